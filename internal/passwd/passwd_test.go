package passwd

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ichi-init/ichi/internal/testutil"
)

const sample = `root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

+nisuser:x:7:7::/:/bin/sh
broken:x:12
badid:x:1a:5::/:/bin/sh
huge:x:4294967296:5::/:/bin/sh
  indented:x:40:41:Some One:/home/i:/bin/sh
dup:x:100:100::/:/bin/sh
dup:x:200:200::/:/bin/sh
colon:x:300:301:gecos:/home/c:/bin/sh:extra
`

func TestFind(t *testing.T) {
	tests := []struct {
		name    string
		uid     uint32
		gid     uint32
		shell   string
		unknown bool
	}{
		{name: "root", uid: 0, gid: 0, shell: "/bin/bash"},
		{name: "daemon", uid: 1, gid: 1, shell: "/usr/sbin/nologin"},
		{name: "indented", uid: 40, gid: 41, shell: "/bin/sh"},
		{name: "dup", uid: 100, gid: 100, shell: "/bin/sh"},
		{name: "colon", uid: 300, gid: 301, shell: "/bin/sh:extra"},
		{name: "nisuser", unknown: true},
		{name: "+nisuser", unknown: true},
		{name: "broken", unknown: true},
		{name: "badid", unknown: true},
		{name: "huge", unknown: true},
		{name: "nobody", unknown: true},
		{name: "", unknown: true},
		{name: "roo", unknown: true},
	}
	for _, tt := range tests {
		a, err := Find(strings.NewReader(sample), tt.name)
		if tt.unknown {
			if !errors.Is(err, ErrUnknown) {
				t.Errorf("Find(%q) = %+v, %v; want ErrUnknown", tt.name, a, err)
			}
			continue
		}
		if err != nil || a.Name != tt.name || a.UID != tt.uid || a.GID != tt.gid || a.Shell != tt.shell {
			t.Errorf("Find(%q) = %+v, %v; want uid %d gid %d shell %q", tt.name, a, err, tt.uid, tt.gid, tt.shell)
		}
	}
}

func TestLookupFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(p, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	if a, err := LookupFile(p, "daemon"); err != nil || a.UID != 1 {
		t.Errorf("LookupFile daemon = %+v, %v", a, err)
	}
	if _, err := LookupFile(p, "nosuch"); !errors.Is(err, ErrUnknown) {
		t.Errorf("LookupFile nosuch: %v, want ErrUnknown", err)
	}
	_, err := LookupFile(filepath.Join(t.TempDir(), "missing"), "root")
	if err == nil || errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("LookupFile on a missing file: %v", err)
	}
}

// TestSystemFile compares every account of this machine's /etc/passwd with
// what getent(1), that is the C library, returns for the same name.
func TestSystemFile(t *testing.T) {
	getent := testutil.Need(t, "getent")
	data, err := os.ReadFile(File)
	if err != nil {
		t.Fatalf("read %s: %v", File, err)
	}
	names := []string{"no-such-account-here"}
	for _, line := range strings.Split(string(data), "\n") {
		if a, ok := ParseLine([]byte(line)); ok {
			names = append(names, a.Name)
		}
	}
	for _, name := range names {
		out, err := exec.Command(getent, "passwd", name).Output()
		got, lerr := Lookup(name)
		if err != nil {
			if !errors.Is(lerr, ErrUnknown) {
				t.Errorf("%s: getent finds nothing (%v), Lookup = %+v, %v", name, err, got, lerr)
			}
			continue
		}
		want, ok := ParseLine(bytes.TrimRight(out, "\n"))
		if !ok || lerr != nil || got != want {
			t.Errorf("%s: Lookup = %+v, %v; getent says %q", name, got, lerr, out)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	for _, l := range strings.Split(sample, "\n") {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		a, ok := ParseLine([]byte(line))
		if !ok {
			return
		}
		if a.Name == "" || strings.Contains(a.Name, ":") {
			t.Fatalf("ParseLine(%q) accepted name %q", line, a.Name)
		}
	})
}
