package svstatus

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStatLine(t *testing.T) {
	tests := []struct {
		s       Status
		exiting bool
		want    string
	}{
		{Status{State: Run, Want: 'u'}, false, "run\n"},
		{Status{State: Down, Want: 'd'}, false, "down\n"},
		{Status{State: Down, Want: 'd', Paused: true}, true, "down, paused\n"},
		{Status{State: Run, Want: 'd', Paused: true, Term: true}, false, "run, paused, got TERM, want down\n"},
		{Status{State: Finish, Want: 'u'}, true, "finish, want exit\n"},
		{Status{State: Run, Want: 'd'}, true, "run, want exit\n"},
		{Status{State: Run, Want: 0}, false, "run, want down\n"},
		{Status{State: Finish, Want: 'd', Term: true}, false, "finish, got TERM, want down\n"},
	}
	for _, tt := range tests {
		if got := string(StatLine(tt.s, tt.exiting)); got != tt.want {
			t.Errorf("StatLine(%+v, %v) = %q, want %q", tt.s, tt.exiting, got, tt.want)
		}
	}
}

func TestWriteStatPid(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "supervise"), 0o700); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(Path(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		pid  int
		want string
	}{
		{4321, "4321\n"},
		{0, ""},
		{2147483647, "2147483647\n"},
	}
	for _, tt := range tests {
		if err := WritePid(dir, tt.pid); err != nil {
			t.Fatal(err)
		}
		if got := read(PidFile); got != tt.want {
			t.Errorf("pid file for %d = %q, want %q", tt.pid, got, tt.want)
		}
	}
	if err := WriteStat(dir, Status{State: Run, Want: 'd', Term: true}, false); err != nil {
		t.Fatal(err)
	}
	if got, want := read(StatFile), "run, got TERM, want down\n"; got != want {
		t.Errorf("stat file = %q, want %q", got, want)
	}
	if err := WritePid(t.TempDir(), 1); err == nil {
		t.Error("WritePid without supervise/ succeeded")
	}
}
