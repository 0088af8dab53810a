package chainload

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/errstr"
)

// Env is a list of changes to an environment, applied the way daemontools'
// pathexec does: each change removes the first variable of the same name
// (moving the last variable into its place) and, unless it is a removal,
// appends the new value.
type Env struct {
	changes []string // "NAME=VALUE" to set NAME, "NAME" to remove it
}

// Set records that name is to be set to value.
func (e *Env) Set(name, value string) { e.changes = append(e.changes, name+"="+value) }

// Unset records that name is to be removed.
func (e *Env) Unset(name string) { e.changes = append(e.changes, name) }

// Apply returns environ with the changes made, in daemontools' order.
// environ is not modified.
func (e *Env) Apply(environ []string) []string {
	env := make([]string, len(environ), len(environ)+len(e.changes))
	copy(env, environ)
	for _, c := range e.changes {
		split := strings.IndexByte(c, '=')
		if split < 0 {
			split = len(c)
		}
		for t, v := range env {
			if len(v) > split && v[split] == '=' && v[:split] == c[:split] {
				last := len(env) - 1
				env[t] = env[last]
				env = env[:last]
				break
			}
		}
		if split < len(c) {
			env = append(env, c)
		}
	}
	return env
}

// candidates returns the paths daemontools' pathexec_run tries for file, in
// order: file itself if it contains a slash, otherwise file in each element
// of PATH ("/bin:/usr/bin" when PATH is unset, an empty element being the
// current directory).
func candidates(file string) []string {
	if strings.IndexByte(file, '/') >= 0 {
		return []string{file}
	}
	path, ok := os.LookupEnv("PATH")
	if !ok {
		path = "/bin:/usr/bin"
	}
	var paths []string
	for dir := range strings.SplitSeq(path, ":") {
		if dir == "" {
			dir = "."
		}
		paths = append(paths, dir+"/"+file)
	}
	return paths
}

// tryCandidates calls try for candidates 0 to n-1 until one ends the search,
// and returns the error pathexec_run reports when none ran: a candidate that
// exists but may not be run (EACCES, EPERM, EISDIR) is remembered and the
// search goes on, as it does past ENOENT; any other error ends it; the
// remembered error wins over the last one.
func tryCandidates(n int, try func(i int) syscall.Errno) syscall.Errno {
	var saved, last syscall.Errno
	for i := range n {
		last = try(i)
		if last == syscall.ENOENT {
			continue
		}
		saved = last
		if last != syscall.EACCES && last != syscall.EPERM && last != syscall.EISDIR {
			break
		}
	}
	if saved != 0 {
		return saved
	}
	return last
}

// run replaces the process with argv, looked up as daemontools' pathexec_run
// does, with the environment env. It returns only when no candidate could be
// run, with the error that explains why.
func run(argv []string, env []string) error {
	paths := candidates(argv[0])
	return tryCandidates(len(paths), func(i int) syscall.Errno {
		// syscall.Exec fails only with an Errno.
		errno, _ := syscall.Exec(paths[i], argv, env).(syscall.Errno)
		return errno
	})
}

// A preparedExec is run's work done ahead: the candidates and the argument
// and environment vectors already in the form execve takes, so that exec
// allocates nothing. softlimit needs that: once its limits are set, the Go
// runtime, which has already reserved more address space than most limits
// allow, would die of the first allocation that grows its heap.
type preparedExec struct {
	paths      []*byte
	argv, envv []*byte
}

// prepareExec converts what run would try. It fails only for a string
// that holds a NUL byte, which no command line or environment can.
func prepareExec(argv, env []string) (*preparedExec, error) {
	p := new(preparedExec)
	var err error
	if p.argv, err = syscall.SlicePtrFromStrings(argv); err != nil {
		return nil, err
	}
	if p.envv, err = syscall.SlicePtrFromStrings(env); err != nil {
		return nil, err
	}
	for _, path := range candidates(argv[0]) {
		b, err := syscall.BytePtrFromString(path)
		if err != nil {
			return nil, err
		}
		p.paths = append(p.paths, b)
	}
	return p, nil
}

// exec tries the candidates in turn with execve, as run does, and returns
// the error that explains why none ran. It neither allocates nor gives the
// runtime back the soft limit on open files it raised at start-up; see
// restoreStartupNofile.
func (p *preparedExec) exec() syscall.Errno {
	return tryCandidates(len(p.paths), func(i int) syscall.Errno {
		_, _, errno := syscall.RawSyscall(syscall.SYS_EXECVE,
			uintptr(unsafe.Pointer(p.paths[i])),
			uintptr(unsafe.Pointer(&p.argv[0])),
			uintptr(unsafe.Pointer(&p.envv[0])))
		return errno
	})
}

// restoreStartupNofile gives the process back the soft limit on open files
// it started with. The syscall package raises that limit at start-up and
// puts the original back only inside syscall.Exec, just before execve,
// keeping it there if execve fails. A preparedExec bypasses syscall.Exec,
// so this lets syscall.Exec fail once, on the empty path, which execve
// refuses with ENOENT before looking at anything else.
func restoreStartupNofile() {
	syscall.Exec("", nil, nil)
}

// fatal prints "NAME: fatal: MESSAGE: ERROR" as daemontools does (the error
// in daemontools' words) and returns the exit status 111.
func fatal(name, message string, err error) int {
	fmt.Fprintf(cli.Stderr, "%s: fatal: %s: %s\n", name, message, errstr.Of(err))
	return cli.ExitTemporary
}

// fatalx prints "NAME: fatal: MESSAGE" and returns the exit status 111.
func fatalx(name, message string) int {
	fmt.Fprintf(cli.Stderr, "%s: fatal: %s\n", name, message)
	return cli.ExitTemporary
}

// usage prints "NAME: usage: NAME SYNOPSIS" and returns code, which is 100
// for every tool but envdir.
func usage(name, synopsis string, code int) int {
	io.WriteString(cli.Stderr, name+": usage: "+name+" "+synopsis+"\n")
	return code
}

// exec runs argv with env and, if that fails, reports it for the tool name.
func exec(name string, argv, env []string) int {
	err := run(argv, env)
	return fatal(name, "unable to run "+argv[0], err)
}
