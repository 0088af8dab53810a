package chainload

import (
	"bytes"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// EnvdirMain is envdir: "envdir dir child" sets or removes one environment
// variable per file of dir and runs child.
//
// The rules are the original's: files whose names start with '.' are
// skipped; a file's first line is its value, with trailing spaces and tabs
// removed and each NUL turned into a newline; an empty file removes the
// variable; a file that vanished (a dangling symlink) reuses the value read
// last, newline and all, as the original's buffer does. Bad usage exits 111,
// as the original does.
func EnvdirMain(argv []string) int {
	const name = "envdir"
	if len(argv) < 3 {
		return usage(name, "dir child", 111)
	}
	env, code := readEnvDir(argv[1])
	if code != 0 {
		return code
	}
	return exec(name, argv[2:], env.Apply(os.Environ()))
}

// readEnvDir reads dir as envdir does, from inside dir, and returns to the
// starting directory. A non-zero code means the error has been reported.
func readEnvDir(dir string) (*Env, int) {
	const name = "envdir"
	orig, err := unix.Open(".", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fatal(name, "unable to switch to current directory", err)
	}
	defer unix.Close(orig)
	if err := unix.Chdir(dir); err != nil {
		return nil, fatal(name, "unable to switch to directory "+dir, err)
	}
	d, err := os.Open(".")
	if err != nil {
		return nil, fatal(name, "unable to read directory "+dir, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fatal(name, "unable to read directory "+dir, err)
	}
	env := &Env{}
	var buf []byte // kept from file to file, as the original's is
	for _, n := range names {
		if n[0] == '.' {
			continue
		}
		b, err := readFile(n, buf[:0])
		switch {
		case errors.Is(err, unix.ENOENT):
			// Keep buf as the previous file left it.
		case err != nil:
			return nil, fatal(name, "unable to read "+dir+"/"+n, err)
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
	if err := unix.Fchdir(orig); err != nil {
		return nil, fatal(name, "unable to switch to starting directory", err)
	}
	return env, 0
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

// readFile appends the contents of the file name to buf. It opens the file
// without blocking, as the original does, so that a FIFO without a writer
// reads as empty.
func readFile(name string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
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
