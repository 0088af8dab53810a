package chainload

import (
	"os"
	"strconv"
	"syscall"

	"github.com/ichi-init/ichi/internal/passwd"
)

// SetuidgidMain is setuidgid: "setuidgid account child" runs child with the
// account's uid and gid and with the account's gid as its only
// supplementary group, as the original does (setgroups, then setgid, then
// setuid). The environment is left as it is.
func SetuidgidMain(argv []string) int {
	const name = "setuidgid"
	if len(argv) < 3 {
		return usage(name, "account child", 100)
	}
	a, err := passwd.Lookup(argv[1])
	if err != nil {
		return fatalx(name, "unknown account "+argv[1])
	}
	// The syscall package applies these to every thread of the process,
	// so the thread that calls execve carries them whichever it is.
	if err := syscall.Setgroups([]int{int(a.GID)}); err != nil {
		return fatal(name, "unable to setgid", err)
	}
	if err := syscall.Setgid(int(a.GID)); err != nil {
		return fatal(name, "unable to setgid", err)
	}
	if err := syscall.Setuid(int(a.UID)); err != nil {
		return fatal(name, "unable to setuid", err)
	}
	return exec(name, argv[2:], os.Environ())
}

// EnvuidgidMain is envuidgid: "envuidgid account child" runs child with GID
// and UID set in its environment to the account's gid and uid, without
// changing its own.
func EnvuidgidMain(argv []string) int {
	const name = "envuidgid"
	if len(argv) < 3 {
		return usage(name, "account child", 100)
	}
	a, err := passwd.Lookup(argv[1])
	if err != nil {
		return fatalx(name, "unknown account "+argv[1])
	}
	var env Env
	env.Set("GID", strconv.FormatUint(uint64(a.GID), 10))
	env.Set("UID", strconv.FormatUint(uint64(a.UID), 10))
	return exec(name, argv[2:], env.Apply(os.Environ()))
}
