package chainload

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/sgetopt"
)

const softlimitSynopsis = "[-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] [-s stackbytes] [-t cpusecs] child"

// softlimitResources gives, for each option of softlimit, the limits it
// sets; -m sets every memory limit at once. Indexed by the option letter:
// the linker lays the table out, where a map would be built by code at
// every start of the binary.
var softlimitResources = [...][]int{
	'a': {syscall.RLIMIT_AS},
	'c': {syscall.RLIMIT_CORE},
	'd': {syscall.RLIMIT_DATA},
	'f': {syscall.RLIMIT_FSIZE},
	'l': {unix.RLIMIT_MEMLOCK},
	'm': {syscall.RLIMIT_DATA, syscall.RLIMIT_STACK, unix.RLIMIT_MEMLOCK, syscall.RLIMIT_AS},
	'o': {syscall.RLIMIT_NOFILE},
	'p': {unix.RLIMIT_NPROC},
	'r': {unix.RLIMIT_RSS},
	's': {syscall.RLIMIT_STACK},
	't': {syscall.RLIMIT_CPU},
}

// SoftlimitMain is softlimit: it lowers soft resource limits, then runs
// child. Each option's value is a decimal number, or "=" for the hard
// limit; a value above the hard limit is cut down to it. Like the
// original, each limit is set as its option is read, and numbers wrap
// around 2^64 rather than being refused.
//
// The limits are set in the Go process itself just before it execs, so the
// Go runtime has to survive them for the few allocations exec needs; limits
// so small that the child could not start either are the only ones where
// this shows (the original is then killed by the kernel in execve, ichi may
// die of the memory limit first).
func SoftlimitMain(argv []string) int {
	const name = "softlimit"
	p := sgetopt.New(argv, "a:c:d:f:l:m:o:p:r:s:t:", cli.Stderr)
	for c := p.Next(); c != sgetopt.Done; c = p.Next() {
		if c < 0 || c >= len(softlimitResources) || softlimitResources[c] == nil {
			return usage(name, softlimitSynopsis, 100)
		}
		resources := softlimitResources[c]
		for _, r := range resources {
			if code := setSoftLimit(name, r, p.Arg); code != 0 {
				return code
			}
		}
	}
	args := argv[p.Index:]
	if len(args) == 0 {
		return usage(name, softlimitSynopsis, 100)
	}
	return exec(name, args, os.Environ())
}

// setSoftLimit sets the soft limit of resource to arg (a number, or "=" for
// the hard limit). A non-zero result is the exit status, the problem
// already reported.
func setSoftLimit(name string, resource int, arg string) int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(resource, &r); err != nil {
		return fatal(name, "getrlimit failed", err)
	}
	if arg == "=" {
		r.Cur = r.Max
	} else {
		n, ok := scanUlong(arg)
		if !ok {
			return usage(name, softlimitSynopsis, 100)
		}
		r.Cur = min(n, r.Max)
	}
	// syscall.Setrlimit, not a raw system call: for RLIMIT_NOFILE it also
	// tells the runtime not to restore its own start-up limit at exec.
	if err := syscall.Setrlimit(resource, &r); err != nil {
		return fatal(name, "setrlimit failed", err)
	}
	return 0
}

// scanUlong reads s as daemontools' scan_ulong does, wrapping around 2^64,
// and reports whether all of s was digits. The empty string is 0.
func scanUlong(s string) (uint64, bool) {
	var n uint64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + uint64(d)
	}
	return n, true
}
