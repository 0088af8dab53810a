package svscan

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ichi-init/ichi/internal/supervise"
	"golang.org/x/sys/unix"
)

// ControlDir is the scanner's own directory inside the scan directory (a dot
// directory, so never taken for a service). It holds "lock", which the
// running scanner holds with flock, "control", a FIFO: each "a" written
// into it asks for a full rescan, and "notify", the NOTIFY_SOCKET of every
// service.
const ControlDir = ".svscan"

// openNotify binds the NOTIFY_SOCKET that every service of the scanner gets:
// DIR/.svscan/notify, or an abstract address when that path is too long for a
// socket address or inControlDir is false (no .svscan directory on a
// read-only file system). It returns nil, with a warning, when it cannot.
func (s *Scanner) openNotify(inControlDir bool) *supervise.NotifyHub {
	path := filepath.Join(s.dir, ControlDir, "notify")
	addr := supervise.NotifyAddr(path)
	if !inControlDir {
		h := fnv.New64a()
		h.Write([]byte(path))
		addr = fmt.Sprintf("@ichi-svscan/%d/%x", os.Getpid(), h.Sum64())
	}
	hub, err := supervise.NewNotifyHub(addr)
	if err != nil {
		s.logf("warning: %s: no shared NOTIFY_SOCKET: %v: each supervisor binds its own", s.dir, err)
		return nil
	}
	return hub
}

// control is the lock and the control FIFO of a running scanner.
type control struct {
	lock    *os.File
	fifo    *os.File // read through the poller; nil when unavailable
	done    chan struct{}
	warning string // why there is no lock or FIFO (read-only directory)
}

// openControl takes dir's scanner lock and opens its control FIFO, whose "a"
// commands call rescan. A directory where neither can be created (read-only
// file system) gets neither, with a warning; a lock held by another scanner
// is an error.
func openControl(dir string, rescan func()) (*control, error) {
	c := &control{done: make(chan struct{})}
	readOnly := func(err error) bool { return errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) }
	without := func(err error) (*control, error) {
		c.warning = fmt.Sprintf("warning: %v: no lock against a second scanner, no control FIFO", err)
		close(c.done)
		return c, nil
	}
	cdir := filepath.Join(dir, ControlDir)
	if err := os.Mkdir(cdir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		if readOnly(err) {
			return without(err)
		}
		return nil, fmt.Errorf("svscan %s: %w", dir, err)
	}
	lockPath := filepath.Join(cdir, "lock")
	lock, err := os.OpenFile(lockPath, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		if readOnly(err) {
			return without(err)
		}
		return nil, fmt.Errorf("svscan %s: %w", dir, err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("svscan %s: unable to acquire %s: another scanner runs on this directory", dir, lockPath)
		}
		return nil, fmt.Errorf("svscan %s: lock %s: %w", dir, lockPath, err)
	}
	c.lock = lock
	fifoPath := filepath.Join(cdir, "control")
	if err := unix.Mkfifo(fifoPath, 0o600); err != nil && err != unix.EEXIST {
		lock.Close()
		return nil, fmt.Errorf("svscan %s: mkfifo %s: %w", dir, fifoPath, err)
	}
	// Open for reading and writing, so that the FIFO never reports EOF
	// when a writer closes it; non-blocking, so that Go's poller reads it.
	fd, err := unix.Open(fifoPath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("svscan %s: open %s: %w", dir, fifoPath, err)
	}
	c.fifo = os.NewFile(uintptr(fd), fifoPath)
	go c.read(rescan)
	return c, nil
}

func (c *control) read(rescan func()) {
	defer close(c.done)
	var buf [64]byte
	for {
		n, err := c.fifo.Read(buf[:])
		for _, b := range buf[:n] {
			if b == 'a' {
				rescan()
			}
		}
		if err != nil {
			return // closed
		}
	}
}

// close stops the FIFO reader and releases the lock.
func (c *control) close() {
	if c.fifo != nil {
		c.fifo.Close()
	}
	<-c.done
	if c.lock != nil {
		c.lock.Close()
	}
}

// RequestRescan asks the scanner running on dir for a full rescan, through
// its control FIFO. It fails when no scanner runs there.
func RequestRescan(dir string) error {
	path := filepath.Join(dir, ControlDir, "control")
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ENXIO {
			return fmt.Errorf("unable to control %s: no scanner is running", dir)
		}
		return fmt.Errorf("unable to control %s: open %s: %w", dir, path, err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte{'a'}); err != nil {
		return fmt.Errorf("unable to control %s: write %s: %w", dir, path, err)
	}
	return nil
}
