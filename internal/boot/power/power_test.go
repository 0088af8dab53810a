package power

import (
	"bytes"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/ichi-init/ichi/internal/cli"
	"golang.org/x/sys/unix"
)

func TestSignals(t *testing.T) {
	tests := []struct {
		sig  syscall.Signal
		want Action
		ok   bool
	}{
		{syscall.SIGUSR1, Halt, true},
		{syscall.SIGUSR2, Poweroff, true},
		{syscall.SIGPWR, Poweroff, true},
		{syscall.SIGTERM, Reboot, true},
		{syscall.SIGINT, Reboot, true},
		{syscall.SIGHUP, 0, false},
	}
	for _, tt := range tests {
		if a, ok := ForSignal(tt.sig); a != tt.want || ok != tt.ok {
			t.Errorf("ForSignal(%v) = %v, %v", tt.sig, a, ok)
		}
	}
	for _, a := range []Action{Halt, Poweroff, Reboot} {
		if back, ok := ForSignal(a.Signal()); !ok || back != a {
			t.Errorf("%v: signal %v means %v", a, a.Signal(), back)
		}
	}
	if Halt.Cmd() != unix.LINUX_REBOOT_CMD_HALT || Poweroff.Cmd() != unix.LINUX_REBOOT_CMD_POWER_OFF || Reboot.Cmd() != unix.LINUX_REBOOT_CMD_RESTART {
		t.Error("reboot(2) commands")
	}
}

func TestMain_(t *testing.T) {
	type call struct {
		what string
		arg  int
	}
	tests := []struct {
		argv  []string
		code  int
		calls []call
		err   string
	}{
		{[]string{"/sbin/halt"}, 0, []call{{"kill", int(syscall.SIGUSR1)}}, ""},
		{[]string{"poweroff"}, 0, []call{{"kill", int(syscall.SIGUSR2)}}, ""},
		{[]string{"reboot", "-d", "0"}, 0, []call{{"kill", int(syscall.SIGTERM)}}, ""},
		{[]string{"reboot", "-f"}, 0, []call{{"sync", 0}, {"reboot", unix.LINUX_REBOOT_CMD_RESTART}}, ""},
		{[]string{"poweroff", "-fn"}, 0, []call{{"reboot", unix.LINUX_REBOOT_CMD_POWER_OFF}}, ""},
		{[]string{"halt", "-d0.01", "-f"}, 0, []call{{"sync", 0}, {"reboot", unix.LINUX_REBOOT_CMD_HALT}}, ""},
		{[]string{"halt", "-x"}, 100, nil, "halt: usage: halt [-d SECONDS] [-f] [-n]"},
		{[]string{"halt", "-d"}, 100, nil, "usage"},
		{[]string{"halt", "-d", "soon"}, 100, nil, "usage"},
		{[]string{"halt", "now"}, 100, nil, "usage"},
		{[]string{"reboot", "-f", "FAIL"}, 100, nil, "usage"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.argv, " "), func(t *testing.T) {
			var calls []call
			var stderr bytes.Buffer
			code := -1
			Kill = func(pid int, sig syscall.Signal) error {
				if pid != 1 {
					t.Errorf("signal to pid %d", pid)
				}
				calls = append(calls, call{"kill", int(sig)})
				return nil
			}
			RebootSyscall = func(cmd int) error { calls = append(calls, call{"reboot", cmd}); return nil }
			Sync = func() { calls = append(calls, call{"sync", 0}) }
			cli.Stderr = &stderr
			cli.Exit = func(c int) { code = c; panic(exitPanic{}) }
			defer func() {
				if r := recover(); r != nil && r != (exitPanic{}) {
					panic(r)
				}
				if code == -1 {
					t.Fatal("no exit code")
				}
				if code != tt.code || !equal(calls, tt.calls) || !strings.Contains(stderr.String(), tt.err) {
					t.Errorf("code %d calls %v stderr %q; want %d %v %q", code, calls, stderr.String(), tt.code, tt.calls, tt.err)
				}
			}()
			code = Main(tt.argv)
		})
	}
	// A failing kill is a temporary failure.
	Kill = func(int, syscall.Signal) error { return errors.New("operation not permitted") }
	var stderr bytes.Buffer
	cli.Stderr = &stderr
	code := 0
	cli.Exit = func(c int) { code = c }
	Main([]string{"reboot"})
	if code != 111 || !strings.Contains(stderr.String(), "reboot: fatal: cannot signal init (pid 1): operation not permitted") {
		t.Errorf("code %d, %q", code, stderr.String())
	}
}

type exitPanic struct{}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
