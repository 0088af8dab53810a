package logd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ichi-init/ichi/internal/errstr"
)

// Open flags as daemontools' open_append, open_trunc and open_read use them
// (O_NDELAY aside, which means nothing for regular files).
const (
	flagsAppend = unix.O_WRONLY | unix.O_APPEND | unix.O_CREAT | unix.O_CLOEXEC
	flagsTrunc  = unix.O_WRONLY | unix.O_TRUNC | unix.O_CREAT | unix.O_CLOEXEC
	flagsRead   = unix.O_RDONLY | unix.O_CLOEXEC
)

// sysError prints an errno in daemontools' words; errors.Is still sees the
// errno through it.
type sysError struct{ err error }

func (e sysError) Error() string { return errstr.Of(e.err) }
func (e sysError) Unwrap() error { return e.err }

// dir is one automatically rotated log directory: its files on disk and the
// bytes on their way to current.
type dir struct {
	l    *Logger
	spec DirSpec
	name string // as the script names it, for messages
	path string // absolute, for the processor's working directory

	fd   int      // the directory, for every *at call
	lock *os.File // DIR/lock, flocked while the logger lives
	cur  *os.File // DIR/current, open for appending

	buf      emulation // what multilog's buffer would hold, and when it rotates
	selected bool      // the current line goes here
}

// openDir creates the directory if needed, locks it, and recovers from
// whatever the last multilog left there, as multilog does at start-up:
// a current that was finished cleanly (mode 0744) is continued; otherwise a
// half-processed file is completed or kept as .u, current becomes a .u file,
// and a fresh, empty state and current are made.
func openDir(l *Logger, spec DirSpec) (*dir, error) {
	path := spec.Path
	if !filepath.IsAbs(path) {
		path = filepath.Join(l.base, path)
	}
	d := &dir{l: l, spec: spec, name: spec.Path, path: path, fd: -1}
	d.buf.size = spec.Size
	if err := d.recover(); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// recover is openDir's work on d.
func (d *dir) recover() (err error) {
	path := d.path
	os.Mkdir(path, 0o700)
	d.fd, err = unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		d.fd = -1
		return fmt.Errorf("unable to open directory %s: %w", d.name, sysError{err})
	}
	if d.lock, err = d.open("lock", flagsAppend, 0o600); err == nil {
		err = flock(d.lock)
	}
	if err != nil {
		return fmt.Errorf("unable to lock directory %s: %w", d.name, sysError{err})
	}

	var st unix.Stat_t
	switch err := unix.Fstatat(d.fd, "current", &st, 0); {
	case err == nil && st.Mode&0o100 != 0:
		if d.cur, err = d.open("current", flagsAppend, 0o600); err != nil {
			return fmt.Errorf("unable to append to %s/current: %w", d.name, sysError{err})
		}
		if err = d.cur.Chmod(0o644); err != nil {
			return fmt.Errorf("unable to set mode of %s/current: %w", d.name, sysError{err})
		}
		d.buf.bytes = int(st.Size)
		return nil
	case err != nil && !errors.Is(err, unix.ENOENT):
		return fmt.Errorf("unable to stat %s/current: %w", d.name, sysError{err})
	}

	unix.Unlinkat(d.fd, "state", 0)
	unix.Unlinkat(d.fd, "newstate", 0)
	processed := false
	switch err := unix.Fstatat(d.fd, "processed", &st, 0); {
	case err == nil:
		processed = st.Mode&0o100 != 0
	case !errors.Is(err, unix.ENOENT):
		return fmt.Errorf("unable to stat %s/processed: %w", d.name, sysError{err})
	}
	if processed {
		unix.Unlinkat(d.fd, "previous", 0)
		d.finish("processed", 's')
	} else {
		unix.Unlinkat(d.fd, "processed", 0)
		d.finish("previous", 'u')
	}
	d.finish("current", 'u')

	state, err := d.open("state", flagsTrunc, 0o644)
	if err != nil {
		return fmt.Errorf("unable to write to %s/state: %w", d.name, sysError{err})
	}
	state.Close()
	if d.cur, err = d.open("current", flagsAppend, 0o600); err != nil {
		return fmt.Errorf("unable to write to %s/current: %w", d.name, sysError{err})
	}
	if err = d.cur.Chmod(0o644); err != nil {
		return fmt.Errorf("unable to set mode of %s/current: %w", d.name, sysError{err})
	}
	return nil
}

// flock takes the exclusive lock daemontools' lock_exnb takes, so that
// ichi's multilog and the original exclude each other.
func flock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			if ferr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

// open opens name inside the directory.
func (d *dir) open(name string, flags int, perm uint32) (*os.File, error) {
	for {
		fd, err := unix.Openat(d.fd, name, flags, perm)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), filepath.Join(d.path, name)), nil
	}
}

// close releases the directory's descriptors, the lock with them.
func (d *dir) close() {
	if d.cur != nil {
		d.cur.Close()
		d.cur = nil
	}
	if d.lock != nil {
		d.lock.Close()
		d.lock = nil
	}
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
	d.buf.release()
}

// retry runs op until it succeeds, saying what failed and pausing after
// each failure, as multilog does for every disk operation once it runs.
func (d *dir) retry(what string, op func() error) {
	for {
		err := op()
		if err == nil {
			return
		}
		d.l.warn(what + ", pausing: " + errstr.Of(err))
		d.l.pause()
	}
}

// write appends b to current, whatever it takes: a short write continues
// where it stopped, an error (disk full, I/O error) is reported and retried
// after a pause. Nothing is dropped and nothing is written twice.
func (d *dir) write(b []byte) {
	for len(b) > 0 {
		n, err := d.cur.Write(b)
		b = b[n:]
		if err != nil {
			d.l.warn("unable to write to " + d.name + "/current, pausing: " + errstr.Of(err))
			d.l.pause()
		}
	}
}

// writeOut writes to disk what multilog would have written by now, rotating
// where multilog would have rotated.
func (d *dir) writeOut() {
	e := &d.buf
	start := 0
	for _, cut := range e.cuts {
		d.write(e.out[start:cut])
		d.rotate()
		start = cut
	}
	d.write(e.out[start:e.pos])
	e.consumed()
}

// rotate is multilog's fullcurrent: current goes to disk, becomes previous
// (mode 0744) and then an old file, directly or through the processor, and a
// new, empty current (mode 0644) takes its place.
func (d *dir) rotate() {
	d.retry("unable to write "+d.name+"/current to disk", d.cur.Sync)
	d.cur.Close()
	d.cur = nil
	d.retry("unable to rename current to previous in directory "+d.name, func() error {
		return unix.Renameat(d.fd, "current", d.fd, "previous")
	})
	d.retry("unable to create "+d.name+"/current", func() (err error) {
		d.cur, err = d.open("current", flagsAppend, 0o600)
		return err
	})
	d.retry("unable to set mode of "+d.name+"/current", func() error { return d.cur.Chmod(0o644) })
	d.retry("unable to set mode of "+d.name+"/previous", func() error {
		return unix.Fchmodat(d.fd, "previous", 0o744, 0)
	})
	if !d.spec.HasProcessor {
		d.finish("previous", 's')
		return
	}
	d.process()
	var f *os.File
	d.retry("unable to create "+d.name+"/processed", func() (err error) {
		f, err = d.open("processed", flagsAppend, 0o600)
		return err
	})
	d.retry("unable to write "+d.name+"/processed to disk", f.Sync)
	d.retry("unable to set mode of "+d.name+"/processed", func() error { return f.Chmod(0o744) })
	f.Close()
	d.retry("unable to create "+d.name+"/newstate", func() (err error) {
		f, err = d.open("newstate", flagsAppend, 0o600)
		return err
	})
	d.retry("unable to write "+d.name+"/newstate to disk", f.Sync)
	f.Close()
	d.retry("unable to remove "+d.name+"/previous", func() error { return unix.Unlinkat(d.fd, "previous", 0) })
	d.retry("unable to rename newstate to state in directory "+d.name, func() error {
		return unix.Renameat(d.fd, "newstate", d.fd, "state")
	})
	d.finish("processed", 's')
}

// finish gives file (previous, processed or current) its old-file name,
// @TIMESTAMP.code, and then removes the oldest old files until fewer than
// n are left. A file that already has a second name (a link made before a
// crash) keeps it.
func (d *dir) finish(file string, code byte) {
	var st unix.Stat_t
	for {
		err := unix.Fstatat(d.fd, file, &st, 0)
		if err == nil {
			break
		}
		if errors.Is(err, unix.ENOENT) {
			return
		}
		d.l.warn("unable to stat " + d.name + "/" + file + ", pausing: " + errstr.Of(err))
		d.l.pause()
	}
	if st.Nlink == 1 {
		for {
			name := string(append(appendLabel(nil, time.Now()), '.', code))
			err := unix.Linkat(d.fd, file, d.fd, name, 0)
			if err == nil {
				break
			}
			d.l.warn("unable to link to " + d.name + "/" + name + ", pausing: " + errstr.Of(err))
			d.l.pause()
		}
	}
	d.retry("unable to remove "+d.name+"/"+file, func() error { return unix.Unlinkat(d.fd, file, 0) })
	for {
		fit, err := d.filesFit()
		if fit {
			return
		}
		if err != nil {
			d.l.warn("unable to read " + d.name + ", pausing: " + errstr.Of(err))
			d.l.pause()
		}
	}
}

// filesFit counts the old files (names of 25 or more characters starting
// with @) and reports whether they are fewer than n; when they are not, it
// removes the one whose first 25 characters sort first.
func (d *dir) filesFit() (bool, error) {
	names, err := d.list()
	if err != nil {
		return false, err
	}
	oldest, count := "", 0
	for _, n := range names {
		if len(n) >= 25 && n[0] == '@' {
			count++
			if oldest == "" || n[:25] < oldest {
				oldest = n[:25]
			}
		}
	}
	if count < d.spec.Num {
		return true, nil
	}
	for _, n := range names {
		if len(n) >= 25 && strings.HasPrefix(n, oldest) {
			unix.Unlinkat(d.fd, n, 0)
			break
		}
	}
	return false, nil
}

// list returns the names in the directory.
func (d *dir) list() ([]string, error) {
	f, err := d.open(".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// quit is what multilog does at the end: everything to disk, and current
// marked finished (mode 0744) for the next multilog to continue.
func (d *dir) quit() {
	d.buf.flush()
	d.writeOut()
	d.retry("unable to write "+d.name+"/current to disk", d.cur.Sync)
	d.retry("unable to set mode of "+d.name+"/current", func() error { return d.cur.Chmod(0o744) })
}

// Processor is a process the logger asks Options.RunProcessor to run: the
// shell running a ! command on a full current.
type Processor struct {
	Path string   // /bin/sh
	Args []string // sh -c COMMAND
	Dir  string   // the log directory
	Env  []string // the process's environment
	// Files are descriptors 0 to 5: previous (to read), processed (the
	// output), the logger's standard error, fd 3 closed, state (to read)
	// and newstate (to write).
	Files []*os.File
}

// runProcessor starts p with os.StartProcess and waits for it. It must not
// be used in a process whose reaper owns wait4 (init): give
// Options.RunProcessor instead.
func runProcessor(p Processor) (syscall.WaitStatus, error) {
	proc, err := os.StartProcess(p.Path, p.Args, &os.ProcAttr{Dir: p.Dir, Env: p.Env, Files: p.Files})
	if err != nil {
		return 0, err
	}
	st, err := proc.Wait()
	if err != nil {
		return 0, err
	}
	return st.Sys().(syscall.WaitStatus), nil
}

// process runs the processor on previous until it succeeds, as multilog
// does: a processor that exits non-zero or is killed runs again after a
// pause, on the same input.
func (d *dir) process() {
	for {
		ws, err := d.processOnce()
		switch {
		case err != nil:
			d.l.warn(err.Error())
		case ws.Signaled():
			d.l.warn(fmt.Sprintf("processor crashed in %s, pausing: signal %d", d.name, ws.Signal()))
			d.l.pause()
		case ws.ExitStatus() == 0:
			return
		}
		d.l.warn("processor failed in " + d.name + ", pausing")
		d.l.pause()
	}
}

// processOnce opens the processor's files and runs it once.
func (d *dir) processOnce() (syscall.WaitStatus, error) {
	var files [6]*os.File
	defer func() {
		for i, f := range files {
			if f != nil && i != 2 {
				f.Close()
			}
		}
	}()
	for _, o := range []struct {
		fd    int
		name  string
		flags int
	}{{0, "previous", flagsRead}, {1, "processed", flagsTrunc}, {4, "state", flagsRead}, {5, "newstate", flagsTrunc}} {
		f, err := d.open(o.name, o.flags, 0o644)
		if err != nil {
			return 0, fmt.Errorf("unable to run %s: %s", d.spec.Processor, errstr.Of(err))
		}
		files[o.fd] = f
	}
	stderr, wait, err := d.l.processorStderr()
	if err != nil {
		return 0, fmt.Errorf("unable to run %s: %s", d.spec.Processor, errstr.Of(err))
	}
	files[2] = stderr
	ws, err := d.l.runProcessor(Processor{
		Path:  "/bin/sh",
		Args:  []string{"sh", "-c", d.spec.Processor},
		Dir:   d.path,
		Env:   os.Environ(),
		Files: files[:],
	})
	wait()
	if err != nil {
		return 0, fmt.Errorf("unable to fork for processor in %s: %s", d.name, errstr.Of(err))
	}
	return ws, nil
}

// processorStderr returns the file a processor writes its errors to: the
// logger's Stderr when it is a file, otherwise a pipe copied to it until the
// processor and its children have closed it (wait waits for that).
func (l *Logger) processorStderr() (f *os.File, wait func(), err error) {
	if f, ok := l.stderr.(*os.File); ok {
		return f, func() {}, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(l.stderr, r)
		r.Close()
	}()
	return w, func() { w.Close(); <-done }, nil
}
