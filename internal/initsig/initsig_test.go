package initsig

import (
	"os"
	"slices"
	"syscall"
	"testing"
)

func TestExcept(t *testing.T) {
	got := Except(Catchable, Fatal...)
	for _, s := range Fatal {
		if slices.Contains(got, s) {
			t.Errorf("Except kept %v", s)
		}
	}
	if len(got) != len(Catchable)-len(Fatal) || got[0] != syscall.SIGUSR1 {
		t.Errorf("Except(Catchable, Fatal...) = %v", got)
	}
	if got := Except([]os.Signal{syscall.SIGTTIN, syscall.SIGWINCH}, syscall.SIGTTIN); !slices.Equal(got, []os.Signal{syscall.SIGWINCH}) {
		t.Errorf("Except = %v", got)
	}
}

// Catchable holds the fatal signals, and none the reaper, the scheduler or
// a fault owns.
func TestCatchable(t *testing.T) {
	for _, s := range Fatal {
		if !slices.Contains(Catchable, s) {
			t.Errorf("%v is fatal but not in Catchable", s)
		}
	}
	for _, s := range []os.Signal{syscall.SIGCHLD, syscall.SIGURG, syscall.SIGKILL, syscall.SIGSTOP,
		syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGILL, syscall.SIGTRAP, syscall.SIGABRT} {
		if slices.Contains(Catchable, s) {
			t.Errorf("Catchable holds %v", s)
		}
	}
}

// One subscription to Catchable takes the fatal signals first.
func TestCatchableBeginsWithFatal(t *testing.T) {
	if !slices.Equal(Catchable[:len(Fatal)], Fatal) {
		t.Errorf("Catchable begins with %v, want %v", Catchable[:len(Fatal)], Fatal)
	}
}
