package logd

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// A source is the logger's input. wait blocks until input can be read
// without blocking; read then reads it. Neither holds a buffer while it
// blocks, except with a plain io.Reader, which gives no other way.
type source interface {
	// wait returns nil when input is ready, errInterrupted after
	// interrupt, errEmpty when nowait is set and nothing is ready, or a
	// read error (a deadline set by the owner of the file, for example).
	wait(nowait bool) error
	read(p []byte) (int, error)
	// interrupt makes a wait (or a read that blocks) return, now or at
	// its next call, with errInterrupted or, for the poller, a deadline
	// error.
	interrupt()
	// resume undoes interrupt before the logger reads again.
	resume()
	close()
}

var (
	errInterrupted = errors.New("interrupted")
	errEmpty       = errors.New("no input ready")
)

// newSource picks how to read r: through Go's poller for a non-blocking
// file (a pipe made by os.Pipe), with poll(2) and an eventfd for a blocking
// one (a standard input), or by plain Read calls for anything else.
func newSource(r io.Reader) (source, error) {
	f, ok := r.(*os.File)
	if !ok {
		return &readerSource{r: r}, nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return &readerSource{r: r}, nil
	}
	if f.SetReadDeadline(time.Time{}) == nil {
		return &pollerSource{f: f, rc: rc}, nil
	}
	var fd int
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return &readerSource{r: r}, nil
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return &blockingSource{f: f, fd: fd, efd: efd}, nil
}

// readerSource reads an io.Reader. Stop and Drain reach it only between
// reads.
type readerSource struct{ r io.Reader }

func (s *readerSource) wait(nowait bool) error {
	if nowait {
		return errEmpty
	}
	return nil
}
func (s *readerSource) read(p []byte) (int, error) { return s.r.Read(p) }
func (s *readerSource) interrupt()                 {}
func (s *readerSource) resume()                    {}
func (s *readerSource) close()                     {}

// pollerSource reads a file registered with Go's poller. It waits for
// readiness with no buffer in hand, and interrupt sets a read deadline in
// the past (which is why interrupt is used only to stop: a deadline the
// file's owner set is replaced by it).
type pollerSource struct {
	f  *os.File
	rc interface {
		Read(func(uintptr) bool) error
	}
}

func (s *pollerSource) wait(nowait bool) error {
	ready := false
	err := s.rc.Read(func(fd uintptr) bool {
		ready = readable(int(fd), 0)
		return ready || nowait
	})
	if err != nil {
		return err
	}
	if !ready {
		return errEmpty
	}
	return nil
}

func (s *pollerSource) read(p []byte) (int, error) { return s.f.Read(p) }

// interrupt sets a deadline in the past; the logger, which knows it asked
// to stop, takes the deadline error that follows for errInterrupted.
func (s *pollerSource) interrupt() { s.f.SetReadDeadline(time.Unix(1, 0)) }
func (s *pollerSource) resume()    { s.f.SetReadDeadline(time.Time{}) }
func (s *pollerSource) close()     {}

// blockingSource reads a blocking descriptor: poll(2) on it and on an
// eventfd that interrupt writes to.
type blockingSource struct {
	f   *os.File
	fd  int
	efd int
}

func (s *blockingSource) wait(nowait bool) error {
	timeout := -1
	if nowait {
		timeout = 0
	}
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}, {Fd: int32(s.efd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, timeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		switch {
		case fds[1].Revents != 0:
			var b [8]byte
			unix.Read(s.efd, b[:])
			return errInterrupted
		case n > 0:
			return nil
		default:
			return errEmpty
		}
	}
}

func (s *blockingSource) read(p []byte) (int, error) { return s.f.Read(p) }

func (s *blockingSource) interrupt() {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], 1)
	unix.Write(s.efd, b[:])
}

func (s *blockingSource) resume() {}
func (s *blockingSource) close()  { unix.Close(s.efd) }

// readable reports whether fd has input (or end of file, or an error) ready.
func readable(fd, timeout int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, timeout)
		if err == unix.EINTR {
			continue
		}
		return err != nil || n > 0
	}
}
