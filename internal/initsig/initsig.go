// Package initsig names the signals ichi's init roles subscribe to, so that
// the machine and the container roles draw from one list.
//
// An init must catch what it can: the Go runtime installs its own handlers
// at start-up, so a signal no one subscribed to is either dropped or, for
// the Fatal ones, ends the process, even as PID 1 (the kernel protects PID 1
// only from signals left at their default action).
package initsig

import (
	"os"
	"slices"
	"syscall"
)

// Fatal are the signals whose arrival before a subscription ends a Go
// program: the runtime's default for them is to exit. They are also what
// runtimes and terminals send (stop, Ctrl-C, reload, quit), so an init
// subscribes to them before anything else; they come first in Catchable,
// and signal.Notify enables a list's signals in order.
var Fatal = []os.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM}

// Catchable are the signals an init handles: every catchable signal but
// SIGCHLD (the reaper subscribes to it itself), SIGURG (the Go scheduler's)
// and the synchronous ones (SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE,
// SIGSEGV), which a process raises against itself and tini does not pass
// on either.
var Catchable = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGALRM,
	syscall.SIGSTKFLT, syscall.SIGCONT, syscall.SIGTSTP, syscall.SIGTTIN,
	syscall.SIGTTOU, syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGVTALRM,
	syscall.SIGPROF, syscall.SIGWINCH, syscall.SIGIO, syscall.SIGPWR,
	syscall.SIGSYS,
}

// Except returns the signals of list that are not in drop, in list's order.
func Except(list []os.Signal, drop ...os.Signal) []os.Signal {
	var out []os.Signal
	for _, s := range list {
		if !slices.Contains(drop, s) {
			out = append(out, s)
		}
	}
	return out
}

// ContainerRest returns the signals the container init subscribes to once
// the Fatal ones are, while its program starts: the rest of Catchable but
// SIGTTIN and SIGTTOU, which concern init's own use of the terminal and are
// not forwarded.
func ContainerRest() []os.Signal {
	return Except(Catchable, append([]os.Signal{syscall.SIGTTIN, syscall.SIGTTOU}, Fatal...)...)
}
