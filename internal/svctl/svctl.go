// Package svctl holds the client tools of supervision: daemontools' svc,
// svstat and svok, with 0.76's exact options, output and exit codes, and
// ichi's own svwait (wait until services are up, ready or down) and svls (an
// overview of every service of a scan directory).
//
// The tools speak only the on-disk protocol of a supervisor: they write
// commands into supervise/control, probe supervise/ok to learn whether a
// supervisor is running, and read supervise/status (daemontools' 18 bytes or
// runit's 20, see package svstatus) and ichi's supervise/ready and
// supervise/ichi. So they drive ichi's supervisor, daemontools' supervise and
// runit's runsv alike, and daemontools' own tools drive ichi's.
//
// It is not a supervisor and keeps no state of its own.
package svctl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// stdout is where svstat and svls print. Tests may replace it.
var stdout io.Writer = os.Stdout

// errNotRunning is returned by probe when no supervisor reads supervise/ok.
var errNotRunning = errors.New("supervise not running")

// openFIFOWrite opens the FIFO at path for writing without blocking, as
// daemontools' open_write does: ENXIO means that no process has it open for
// reading, that is, no supervisor is running.
func openFIFOWrite(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// probe reports whether a supervisor runs in the service directory dir:
// nil when one has supervise/ok open, errNotRunning when supervise/ok is
// missing or has no reader, another error when it cannot be opened.
func probe(dir string) error {
	fd, err := openFIFOWrite(dir + "/supervise/ok")
	switch err {
	case nil:
		unix.Close(fd)
		return nil
	case unix.ENXIO, unix.ENOENT:
		return errNotRunning
	}
	return &os.PathError{Op: "open", Path: dir + "/supervise/ok", Err: err}
}

// inDir runs f with the working directory changed to dir, then changes back
// to orig, as daemontools' tools do with chdir and fchdir: relative names
// inside f are relative to dir, and the errors are exactly those of chdir.
// It returns chdir's error without running f; an error changing back is
// fatal to the caller and returned as back.
func inDir(orig *os.File, dir string, f func()) (chdir, back error) {
	if err := unix.Chdir(dir); err != nil {
		return err, nil
	}
	f()
	return nil, unix.Fchdir(int(orig.Fd()))
}

// flushTo returns a buffered writer on w whose errors the caller reports at
// the end, as daemontools buffers svstat's output.
func flushTo(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, 1024) }

// fatal prints "NAME: fatal: MESSAGE" on stderr and returns code.
func fatal(stderr io.Writer, code int, name, format string, args ...any) int {
	fmt.Fprintf(stderr, "%s: fatal: %s\n", name, fmt.Sprintf(format, args...))
	return code
}

// warn prints "NAME: warning: MESSAGE" on stderr.
func warn(stderr io.Writer, name, format string, args ...any) {
	fmt.Fprintf(stderr, "%s: warning: %s\n", name, fmt.Sprintf(format, args...))
}
