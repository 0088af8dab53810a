package chainload

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

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

// execve is the system call that replaces the process; it returns only on
// failure.
var execve = syscall.Exec

// run replaces the process with argv, looked up as daemontools' pathexec_run
// does, with the environment env. It returns only when no candidate could be
// run, with the error that explains why.
func run(argv []string, env []string) error {
	file := argv[0]
	if strings.IndexByte(file, '/') >= 0 {
		return execve(file, argv, env)
	}
	path, ok := os.LookupEnv("PATH")
	if !ok {
		path = "/bin:/usr/bin"
	}
	var saved error
	for {
		dir, rest, more := strings.Cut(path, ":")
		if dir == "" {
			dir = "."
		}
		err := execve(dir+"/"+file, argv, env)
		if !errors.Is(err, syscall.ENOENT) {
			saved = err
			if !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EISDIR) {
				return err
			}
		}
		if !more {
			if saved != nil {
				return saved
			}
			return err
		}
		path = rest
	}
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
