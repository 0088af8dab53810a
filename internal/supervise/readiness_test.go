package supervise

import (
	"os"
	"path/filepath"
	"testing"
)

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
