package procstat

import (
	"os"
	"slices"
	"strconv"
	"testing"
)

func TestFields(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"1 (init) S 0 1 1 0 -1 4194560\n", []string{"S", "0", "1", "1", "0", "-1", "4194560"}},
		{"42 (a) (b c) R 7 42 42 34816\n", []string{"R", "7", "42", "42", "34816"}},
		{"42 (no end", nil},
		{"", nil},
	}
	for _, tt := range tests {
		if got := Fields([]byte(tt.line)); !slices.Equal(got, tt.want) {
			t.Errorf("Fields(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestFieldsOfSelf(t *testing.T) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip(err)
	}
	f := Fields(b)
	if len(f) <= Flags {
		t.Fatalf("only %d fields in %q", len(f), b)
	}
	if got, want := f[PPID], strconv.Itoa(os.Getppid()); got != want {
		t.Errorf("ppid field %q, want %q", got, want)
	}
	if f[State] != "R" {
		t.Errorf("state of a running reader %q, want R", f[State])
	}
}

// List finds this process with its parent.
func TestList(t *testing.T) {
	ps, err := List("/proc")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range ps {
		if p.Pid == os.Getpid() {
			found = true
			if p.PPid != os.Getppid() {
				t.Errorf("ppid %d, want %d", p.PPid, os.Getppid())
			}
		}
	}
	if !found {
		t.Errorf("List has no process %d", os.Getpid())
	}
	if _, err := List(t.TempDir() + "/none"); err == nil {
		t.Error("List of a missing directory: no error")
	}
}
