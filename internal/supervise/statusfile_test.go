package supervise

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestStatusFileMarshal(t *testing.T) {
	when := time.Unix(1700000000, 123456789)
	tests := []struct {
		name string
		in   StatusFile
		want []byte
	}{
		{"down want up", StatusFile{When: when, WantUp: true},
			[]byte{0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0x0a, 0x07, 0x5b, 0xcd, 0x15, 0, 0, 0, 0, 0, 'u', 0, 0}},
		{"run paused term", StatusFile{When: when, Pid: 0x01020304, Paused: true, GotTerm: true, State: StateRun},
			[]byte{0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0x0a, 0x07, 0x5b, 0xcd, 0x15, 4, 3, 2, 1, 1, 'd', 1, 1}},
		{"finish", StatusFile{When: when, Pid: 77, WantUp: true, State: StateFinish},
			[]byte{0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0x0a, 0x07, 0x5b, 0xcd, 0x15, 77, 0, 0, 0, 0, 'u', 0, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.Marshal()
			if !bytes.Equal(got[:], tc.want) {
				t.Fatalf("Marshal = % x\nwant      % x", got, tc.want)
			}
			back, err := ParseStatus(got[:])
			if err != nil {
				t.Fatal(err)
			}
			if !back.When.Equal(tc.in.When) || back.Pid != tc.in.Pid || back.Paused != tc.in.Paused ||
				back.WantUp != tc.in.WantUp || back.GotTerm != tc.in.GotTerm || back.State != tc.in.State {
				t.Errorf("ParseStatus(Marshal) = %+v, want %+v", back, tc.in)
			}
		})
	}
}

func TestParseStatusDaemontools(t *testing.T) {
	b := []byte{0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0x0a, 0, 0, 0, 0, 0x39, 0x30, 0, 0, 1, 0}
	st, err := ParseStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pid != 12345 || st.State != StateRun || !st.Paused || st.WantUp || st.When.Unix() != 1700000000 {
		t.Errorf("got %+v", st)
	}
	if _, err := ParseStatus(b[:17]); err == nil {
		t.Error("17 bytes accepted")
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add(make([]byte, 20))
	f.Add(make([]byte, 18))
	f.Add([]byte("@4000000065\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStatus(b)
		if err != nil {
			return
		}
		if len(b) != 20 {
			return
		}
		// A 20-byte file whose time is in range marshals back to itself,
		// except for the flag bytes, which are normalised to 0 and 1.
		again := st.Marshal()
		st2, err := ParseStatus(again[:])
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if st2.Pid != st.Pid || st2.State != st.State || st2.WantUp != st.WantUp || !st2.When.Equal(st.When) {
			t.Fatalf("round trip %+v -> %+v", st, st2)
		}
	})
}

func TestStatText(t *testing.T) {
	tests := []struct {
		st                              RunState
		paused, term, wantDown, exiting bool
		want                            string
	}{
		{StateRun, false, false, false, false, "run\n"},
		{StateDown, false, false, true, false, "down\n"},
		{StateDown, true, false, true, true, "down, paused\n"},
		{StateRun, true, true, true, false, "run, paused, got TERM, want down\n"},
		{StateFinish, false, false, false, true, "finish, want exit\n"},
		{StateRun, false, false, true, true, "run, want exit\n"},
	}
	for _, tc := range tests {
		if got := string(statText(tc.st, tc.paused, tc.term, tc.wantDown, tc.exiting)); got != tc.want {
			t.Errorf("statText(%+v) = %q, want %q", tc, got, tc.want)
		}
	}
	if got := string(pidText(0)); got != "" {
		t.Errorf("pidText(0) = %q", got)
	}
	if got := string(pidText(4321)); got != "4321\n" {
		t.Errorf("pidText(4321) = %q", got)
	}
}

func TestApplyEnvDir(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"A":       "one\ntwo\n",
		"B":       "trail \t \n",
		"C":       "",
		"D":       "x\x00y",
		".hidden": "no",
	} {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	base := []string{"A=old", "C=gone", "KEEP=1"}
	got, err := applyEnvDir(base, dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{"A=one", "B=trail", "D=x\ny", "KEEP=1"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if !slices.Equal(base, []string{"A=old", "C=gone", "KEEP=1"}) {
		t.Errorf("base modified: %q", base)
	}
	if got, err := applyEnvDir(base, filepath.Join(dir, "missing")); err != nil || !slices.Equal(got, base) {
		t.Errorf("missing dir: %q, %v", got, err)
	}
	if got := withEnv(base, "A", "new"); !slices.Equal(got, []string{"C=gone", "KEEP=1", "A=new"}) {
		t.Errorf("withEnv = %q", got)
	}
}

func TestHasLine(t *testing.T) {
	tests := []struct {
		msg  string
		want bool
	}{
		{"READY=1", true},
		{"READY=1\n", true},
		{"STATUS=x\nREADY=1\nMAINPID=3", true},
		{"READY=10", false},
		{"XREADY=1", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := hasLine([]byte(tc.msg), "READY=1"); got != tc.want {
			t.Errorf("hasLine(%q) = %v", tc.msg, got)
		}
	}
}

func TestNotificationFD(t *testing.T) {
	tests := []struct {
		content string
		want    int
		bad     bool
	}{
		{"3\n", 3, false},
		{" 7 ", 7, false},
		{"2", 0, true},
		{"x", 0, true},
		{"5000", 0, true},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "notification-fd"), []byte(tc.content), 0o644)
		n, err := notificationFD(dir)
		if n != tc.want || (err != nil) != tc.bad {
			t.Errorf("%q: %d, %v", tc.content, n, err)
		}
	}
	if n, err := notificationFD(t.TempDir()); n != 0 || err != nil {
		t.Errorf("no file: %d, %v", n, err)
	}
}
