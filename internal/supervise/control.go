package supervise

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// acquire makes DIR/supervise/control a FIFO, opens it, locks it, and makes
// ok and lock hard links to it.
func (s *Supervisor) acquire() error {
	lockPath := filepath.Join(s.sdir, "lock")
	control := filepath.Join(s.sdir, "control")
	lockErr := func(err error) error {
		if err == unix.EWOULDBLOCK {
			err = ErrLocked
		}
		return fmt.Errorf("unable to acquire %s/supervise/lock: %w", s.name, err)
	}
	// The lock file of daemontools' or runit's layout, held until the
	// FIFO's lock is taken and lock names the FIFO.
	var st unix.Stat_t
	if err := unix.Stat(lockPath, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		fd, err := unix.Open(lockPath, unix.O_WRONLY|unix.O_APPEND|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return lockErr(err)
		}
		defer unix.Close(fd)
		if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
			return lockErr(err)
		}
	} else if err != nil && err != unix.ENOENT {
		return lockErr(err)
	}

	if err := makeFIFO(control); err != nil {
		return fmt.Errorf("unable to create %s/supervise/control: %w", s.name, err)
	}
	// Read and write: the FIFO always has a writer, so reads never see end
	// of file, and svc's non-blocking open for writing always finds a reader.
	// Non-blocking, so that the Go poller waits for it and Close interrupts
	// a pending Read.
	fd, err := unix.Open(control, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("unable to read %s/supervise/control: %w", s.name, err)
	}
	s.control = os.NewFile(uintptr(fd), control)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return lockErr(err)
	}
	s.locked = true
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("unable to stat %s/supervise/control: %w", s.name, err)
	}
	s.controlDev, s.controlIno = uint64(st.Dev), st.Ino
	for _, name := range []string{"ok", "lock"} {
		if err := s.linkControl(name); err != nil {
			return fmt.Errorf("unable to create %s/supervise/%s: %w", s.name, name, err)
		}
	}
	return nil
}

// isControl reports whether DIR/supervise/name is the control FIFO.
func (s *Supervisor) isControl(name string) bool {
	var st unix.Stat_t
	err := unix.Lstat(filepath.Join(s.sdir, name), &st)
	return err == nil && uint64(st.Dev) == s.controlDev && st.Ino == s.controlIno
}

// linkControl makes DIR/supervise/name a hard link to control, replacing
// whatever had that name in one step.
func (s *Supervisor) linkControl(name string) error {
	if s.isControl(name) {
		return nil
	}
	path := filepath.Join(s.sdir, name)
	tmp := path + ".new"
	if err := unix.Unlink(tmp); err != nil && err != unix.ENOENT {
		return err
	}
	if err := unix.Link(filepath.Join(s.sdir, "control"), tmp); err != nil {
		return err
	}
	if err := unix.Rename(tmp, path); err != nil {
		unix.Unlink(tmp)
		return err
	}
	return nil
}

// release removes the lock link (see above) and closes the control FIFO,
// which releases the lock.
func (s *Supervisor) release() {
	if s.control == nil {
		return
	}
	if s.locked && s.isControl("lock") {
		if err := unix.Unlink(filepath.Join(s.sdir, "lock")); err != nil {
			s.logf("unable to remove %s/supervise/lock: %v", s.name, err)
		}
	}
	s.control.Close()
}

// makeFIFO creates a FIFO with mode 0600 unless name already is one.
func makeFIFO(name string) error {
	err := unix.Mkfifo(name, 0o600)
	if err == nil {
		return nil
	}
	if err != unix.EEXIST {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(name, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return errors.New("exists and is not a FIFO")
	}
	return nil
}
