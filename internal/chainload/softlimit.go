package chainload

import (
	"os"
	"slices"
	"syscall"
	"unsafe"

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
// limit; a value above the hard limit is cut down to it. Numbers wrap
// around 2^64 rather than being refused, as the original's do.
//
// The original sets each limit as it reads its option; ichi reads the whole
// command line first and sets the limits, in the same order, only once the
// child's exec is prepared, because the Go runtime cannot live under them:
// it has reserved more than a gigabyte of address space at start-up, so
// the first allocation that grows its heap afterwards would kill it. The
// outcome is the same, since setting a soft limit at or below the hard one
// cannot fail. If no candidate for child runs, the limits are put back
// before the error is reported.
func SoftlimitMain(argv []string) int {
	const name = "softlimit"
	var settings []rlimitSetting
	p := sgetopt.New(argv, "a:c:d:f:l:m:o:p:r:s:t:", cli.Stderr)
	for c := p.Next(); c != sgetopt.Done; c = p.Next() {
		if c < 0 || c >= len(softlimitResources) || softlimitResources[c] == nil {
			return usage(name, softlimitSynopsis, 100)
		}
		toHard := p.Arg == "="
		value, ok := scanUlong(p.Arg)
		if !toHard && !ok {
			return usage(name, softlimitSynopsis, 100)
		}
		for _, r := range softlimitResources[c] {
			settings = append(settings, rlimitSetting{resource: r, toHard: toHard, value: value})
		}
	}
	args := argv[p.Index:]
	if len(args) == 0 {
		return usage(name, softlimitSynopsis, 100)
	}

	restoreStartupNofile()
	limits, err := newLimits(settings)
	if err != nil {
		return fatal(name, "getrlimit failed", err)
	}
	child, err := prepareExec(args, os.Environ())
	if err != nil {
		return fatal(name, "unable to run "+args[0], err)
	}
	if errno := limits.set(limits.want); errno != 0 {
		limits.set(limits.was)
		return fatal(name, "setrlimit failed", errno)
	}
	errno := child.exec()
	limits.set(limits.was)
	return fatal(name, "unable to run "+args[0], errno)
}

// An rlimitSetting is one limit an option asks for: a number, or the hard
// limit.
type rlimitSetting struct {
	resource int
	toHard   bool
	value    uint64
}

// rlimits are the limits softlimit changes, as they were and as they are
// to be, each resource once, in the order of the options that first named
// it.
type rlimits struct {
	resources []int
	was, want []syscall.Rlimit
}

// newLimits reads the current limits of the resources settings names and
// works out the new ones, applying settings in order as the original
// applies its options: a later option for a resource overrides an earlier
// one.
func newLimits(settings []rlimitSetting) (*rlimits, error) {
	l := new(rlimits)
	for _, s := range settings {
		i := slices.Index(l.resources, s.resource)
		if i < 0 {
			var r syscall.Rlimit
			if err := syscall.Getrlimit(s.resource, &r); err != nil {
				return nil, err
			}
			i = len(l.resources)
			l.resources = append(l.resources, s.resource)
			l.was, l.want = append(l.was, r), append(l.want, r)
		}
		r := &l.want[i]
		if s.toHard {
			r.Cur = r.Max
		} else {
			r.Cur = min(s.value, r.Max)
		}
	}
	return l, nil
}

// set gives each resource its limit from values (l.was or l.want). It
// allocates nothing, and stops at the first failure.
func (l *rlimits) set(values []syscall.Rlimit) syscall.Errno {
	for i, resource := range l.resources {
		_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, 0, uintptr(resource),
			uintptr(unsafe.Pointer(&values[i])), 0, 0, 0)
		if errno != 0 {
			return errno
		}
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
