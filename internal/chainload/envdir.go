package chainload

import (
	"bytes"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// EnvdirMain is envdir: "envdir dir child" sets or removes one environment
// variable per file of dir (see ReadEnvDir) and runs child. Bad usage exits
// 111, as the original does.
func EnvdirMain(argv []string) int {
	const name = "envdir"
	if len(argv) < 3 {
		return usage(name, "dir child", 111)
	}
	// The original opens the working directory first, to return to it
	// after reading dir from inside; it fails when it cannot.
	fd, err := unix.Open(".", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fatal(name, "unable to switch to current directory", err)
	}
	unix.Close(fd)
	env, err := ReadEnvDir(argv[1])
	if err != nil {
		var e *EnvDirError
		if errors.As(err, &e) {
			return fatal(name, "unable to "+e.Op+" "+e.Path, e.Err)
		}
		return fatal(name, "unable to read directory "+argv[1], err)
	}
	return exec(name, argv[2:], env.Apply(os.Environ()))
}

// EnvDirError is the error of ReadEnvDir: what it was unable to do, to
// which path, and why. Its text is envdir's message.
type EnvDirError struct {
	// Op is "switch to directory" (dir is missing, not a directory, or
	// not searchable), "read directory" (dir cannot be listed) or "read"
	// (a file cannot be read).
	Op string
	// Path is the directory, or DIR/NAME for a file.
	Path string
	// Err is the system's error.
	Err error
}

func (e *EnvDirError) Error() string {
	return "unable to " + e.Op + " " + e.Path + ": " + e.Err.Error()
}

// Unwrap returns the system's error.
func (e *EnvDirError) Unwrap() error { return e.Err }

// ReadEnvDir reads the directory dir as daemontools' envdir does and returns
// the changes it makes to an environment, in envdir's order (the order of
// the directory's entries). The rules are the original's: files whose names
// start with '.' are skipped; a file's first line is its value, with
// trailing spaces and tabs removed and each NUL turned into a newline; an
// empty file removes the variable; a file that vanished (a dangling
// symlink) reuses the value read last, newline and all, as the original's
// buffer does. A FIFO without a writer reads as empty.
//
// Unlike envdir, it does not change the working directory (other goroutines
// may depend on it); it checks the permissions chdir would check, so the
// same failures are reported. The error is an *EnvDirError; a missing dir
// is one whose Err is ENOENT.
func ReadEnvDir(dir string) (*Env, error) {
	const switchTo, readDir = "switch to directory", "read directory"
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &EnvDirError{switchTo, dir, err}
	}
	defer unix.Close(dfd)
	// Looking up "." in dir needs search permission on it, as chdir does;
	// an O_PATH descriptor alone does not.
	fd, err := unix.Openat(dfd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &EnvDirError{switchTo, dir, err}
	}
	unix.Close(fd)
	fd, err = unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &EnvDirError{readDir, dir, err}
	}
	d := os.NewFile(uintptr(fd), dir)
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &EnvDirError{readDir, dir, err}
	}
	env := &Env{}
	var buf []byte // kept from file to file, as the original's is
	for _, n := range names {
		if n[0] == '.' {
			continue
		}
		b, err := readFileAt(dfd, n, buf[:0])
		switch {
		case errors.Is(err, unix.ENOENT):
			// Keep buf as the previous file left it.
		case err != nil:
			return nil, &EnvDirError{"read", dir + "/" + n, err}
		default:
			buf = b
		}
		if len(buf) == 0 {
			env.Unset(n)
			continue
		}
		buf = firstLine(buf)
		env.Set(n, string(buf))
		buf = append(buf, 0) // the C string terminator the original leaves in its buffer
	}
	return env, nil
}

// firstLine cuts b at its first newline, removes trailing spaces and tabs,
// and turns NULs into newlines, in place.
func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimRight(b, " \t")
	for i, c := range b {
		if c == 0 {
			b[i] = '\n'
		}
	}
	return b
}

// readFileAt appends the contents of the file name in the directory dirfd
// to buf. It opens the file without blocking, as the original does, so that
// a FIFO without a writer reads as empty.
func readFileAt(dirfd int, name string, buf []byte) ([]byte, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return buf, err
	}
	defer unix.Close(fd)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, 256)...)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return buf, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}
