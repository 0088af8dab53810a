package chainload

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/sgetopt"
)

// SetlockMain is setlock: "setlock [ -nNxX ] file program [ arg ... ]" opens
// file for appending (creating it with mode 0600), takes an exclusive flock
// on it and runs program, which inherits the open descriptor and so holds
// the lock until it exits.
//
// -n: fail at once if the lock is taken, instead of waiting; -N: wait (the
// default). -x: exit 0 quietly if the file cannot be opened or locked; -X:
// complain and exit 111 (the default).
func SetlockMain(argv []string) int {
	const name = "setlock"
	const synopsis = "[ -nNxX ] file program [ arg ... ]"
	noDelay, quiet := false, false
	p := sgetopt.New(argv, "nNxX", cli.Stderr)
	for c := p.Next(); c != sgetopt.Done; c = p.Next() {
		switch c {
		case 'n':
			noDelay = true
		case 'N':
			noDelay = false
		case 'x':
			quiet = true
		case 'X':
			quiet = false
		default:
			return usage(name, synopsis, 100)
		}
	}
	args := argv[p.Index:]
	if len(args) < 2 {
		return usage(name, synopsis, 100)
	}
	file := args[0]
	// No O_CLOEXEC: the program must inherit the locked descriptor.
	fd, err := unix.Open(file, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_APPEND|unix.O_CREAT, 0o600)
	if err != nil {
		if quiet {
			return 0
		}
		return fatal(name, "unable to open "+file, err)
	}
	how := unix.LOCK_EX
	if noDelay {
		how |= unix.LOCK_NB
	}
	for {
		err = unix.Flock(fd, how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		if quiet {
			return 0
		}
		return fatal(name, "unable to lock "+file, err)
	}
	return exec(name, args[1:], os.Environ())
}
