package errstr

import (
	"fmt"
	"os"
	"syscall"
	"testing"
)

func TestErrno(t *testing.T) {
	tests := []struct {
		err  syscall.Errno
		want string
	}{
		{syscall.ENOENT, "file does not exist"},
		{syscall.EACCES, "access denied"},
		{syscall.EPERM, "permission denied"},
		{syscall.EWOULDBLOCK, "temporary failure"},
		{syscall.EISDIR, "is a directory"},
		{syscall.ENOTDIR, "not a directory"},
		{syscall.EMFILE, "process cannot open more files"},
		{syscall.Errno(4000), "unknown error"},
	}
	for _, tt := range tests {
		if got := Errno(tt.err); got != tt.want {
			t.Errorf("Errno(%d) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestOf(t *testing.T) {
	_, err := os.Open("/nonexistent/errstr-test")
	if got := Of(err); got != "file does not exist" {
		t.Errorf("Of(%v) = %q", err, got)
	}
	wrapped := fmt.Errorf("context: %w", os.NewSyscallError("flock", syscall.EAGAIN))
	if got := Of(wrapped); got != "temporary failure" {
		t.Errorf("Of(%v) = %q", wrapped, got)
	}
	if got := Of(fmt.Errorf("plain")); got != "plain" {
		t.Errorf("Of(plain) = %q", got)
	}
}
