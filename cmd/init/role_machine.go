package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/ichi-init/ichi/internal/machine"
)

// machineSignals are the signals the machine role handles besides
// fatalSignals: the power signals (internal/machine), and every other
// catchable one, which it ignores (with a debug message) rather than die of. SIGCHLD belongs to the reaper (which
// subscribes to it itself) and SIGURG to the Go scheduler. Boot is not
// measured in the tenths of a millisecond these subscriptions take, so
// they are made before the machine starts.
var machineSignals = []os.Signal{
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGALRM,
	syscall.SIGSTKFLT, syscall.SIGCONT, syscall.SIGTSTP, syscall.SIGTTIN,
	syscall.SIGTTOU, syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGVTALRM,
	syscall.SIGPROF, syscall.SIGWINCH, syscall.SIGIO, syscall.SIGPWR,
	syscall.SIGSYS,
}

// The machine role: init as PID 1 with no flags (internal/machine), which
// supervises the service directory with the embedded scanner.
func init() {
	boot := machine.NewMain(machine.StartSvscan)
	roleMains[roleMachine] = func(args []string, signals chan os.Signal) int {
		signal.Notify(signals, machineSignals...)
		return boot(args, signals)
	}
}
