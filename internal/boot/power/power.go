// Package power names what ends a machine's run — halt, power off, reboot —
// and the signals that ask PID 1 for each, as busybox init has them:
//
//	SIGUSR1          halt
//	SIGUSR2, SIGPWR  power off
//	SIGTERM          reboot
//	SIGINT           reboot (the kernel sends it on ctrl-alt-del once
//	                 init has turned CAD off with reboot(2))
//
// It also holds the halt, poweroff and reboot tools.
package power

import (
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ichi-init/ichi/internal/cli"
	"golang.org/x/sys/unix"
)

// Action is how the machine ends.
type Action int

const (
	// Halt stops the CPUs and leaves the machine on.
	Halt Action = iota + 1
	// Poweroff switches the machine off.
	Poweroff
	// Reboot restarts it.
	Reboot
)

func (a Action) String() string {
	switch a {
	case Halt:
		return "halt"
	case Poweroff:
		return "poweroff"
	case Reboot:
		return "reboot"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Cmd is the reboot(2) command that performs a.
func (a Action) Cmd() int {
	switch a {
	case Halt:
		return unix.LINUX_REBOOT_CMD_HALT
	case Poweroff:
		return unix.LINUX_REBOOT_CMD_POWER_OFF
	}
	return unix.LINUX_REBOOT_CMD_RESTART
}

// Signal is the signal that asks PID 1 for a.
func (a Action) Signal() syscall.Signal {
	switch a {
	case Halt:
		return syscall.SIGUSR1
	case Poweroff:
		return syscall.SIGUSR2
	}
	return syscall.SIGTERM
}

// ForSignal returns the action a signal to PID 1 asks for.
func ForSignal(sig syscall.Signal) (Action, bool) {
	switch sig {
	case syscall.SIGUSR1:
		return Halt, true
	case syscall.SIGUSR2, syscall.SIGPWR:
		return Poweroff, true
	case syscall.SIGTERM, syscall.SIGINT:
		return Reboot, true
	}
	return 0, false
}

// Tool names the action by the name the tool was called as.
func Tool(name string) (Action, bool) {
	switch name {
	case "halt":
		return Halt, true
	case "poweroff":
		return Poweroff, true
	case "reboot":
		return Reboot, true
	}
	return 0, false
}

// Kill and RebootSyscall are what the tools call; tests replace them.
var (
	Kill          = unix.Kill
	RebootSyscall = unix.Reboot
	Sync          = unix.Sync
)

// Main is the halt, poweroff and reboot tools, with busybox's options:
//
//	-d SECONDS  wait that long first
//	-f          do not ask init: sync and call reboot(2) at once
//	-n          with -f, do not sync
//
// Without -f the tool sends init (PID 1) the action's signal and returns;
// init then stops the services, drains the logs, unmounts and ends the run.
func Main(argv []string) int {
	name := filepath.Base(argv[0])
	a, ok := Tool(name)
	if !ok {
		cli.FatalCodef(cli.ExitUsage, name, "called as an unknown tool")
		return cli.ExitUsage
	}
	usage := "[-d SECONDS] [-f] [-n]"
	var delay time.Duration
	force, noSync := false, false
	args := argv[1:]
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		opt := args[0]
		args = args[1:]
		if opt == "--" {
			break
		}
		for k := 1; k < len(opt); k++ {
			switch opt[k] {
			case 'f':
				force = true
			case 'n':
				noSync = true
			case 'd':
				v := opt[k+1:]
				if v == "" {
					if len(args) == 0 {
						cli.Usage(name, usage)
						return cli.ExitUsage
					}
					v, args = args[0], args[1:]
				}
				n, err := strconv.ParseFloat(v, 64)
				if err != nil || n < 0 || n > 1e6 {
					cli.Usage(name, usage)
					return cli.ExitUsage
				}
				delay = time.Duration(n * float64(time.Second))
				k = len(opt)
			default:
				cli.Usage(name, usage)
				return cli.ExitUsage
			}
		}
	}
	if len(args) > 0 {
		cli.Usage(name, usage)
		return cli.ExitUsage
	}
	time.Sleep(delay)
	if force {
		if !noSync {
			Sync()
		}
		if err := RebootSyscall(a.Cmd()); err != nil {
			cli.Fatalf(name, "reboot(2): %v", err)
			return cli.ExitTemporary
		}
		return 0
	}
	if err := Kill(1, a.Signal()); err != nil {
		cli.Fatalf(name, "cannot signal init (pid 1): %v", err)
		return cli.ExitTemporary
	}
	return 0
}
