package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Readiness comes from one of two conventions.
//
// s6: the service directory holds a file notification-fd containing a
// number N (3 or more). ./run gets the write end of a pipe as descriptor N
// and writes a newline on it when it is ready.
//
// systemd: ./run's environment names a datagram socket in NOTIFY_SOCKET
// (DIR/supervise/notify, or an abstract name when that path is too long for
// a socket address). A datagram with a line READY=1, sent by ./run itself or
// by a process in its session, marks the service ready.

// readyEvent reports a readiness notification to the supervisor's loop.
type readyEvent struct {
	gen uint64 // the start it belongs to (notification-fd); 0 for the socket
	pid int    // the sender's pid (socket); 0 for notification-fd
}

// notificationFD reads DIR/notification-fd. It returns 0 when the file does
// not exist.
func notificationFD(dir string) (int, error) {
	name := filepath.Join(dir, "notification-fd")
	data, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n < 3 || n > 1023 {
		return 0, fmt.Errorf("%s: %q is not a descriptor number from 3 to 1023", name, strings.TrimSpace(string(data)))
	}
	return n, nil
}

// readNotificationPipe waits for a newline on r (the read end of the
// notification-fd pipe) and reports it for start gen. It returns at the
// newline, at end of file, or when the loop closes r.
func (s *Supervisor) readNotificationPipe(r *os.File, gen uint64) {
	defer s.wg.Done()
	var buf [64]byte
	for {
		n, err := r.Read(buf[:])
		if bytes.IndexByte(buf[:n], '\n') >= 0 {
			s.sendReady(readyEvent{gen: gen})
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *Supervisor) sendReady(ev readyEvent) {
	select {
	case s.readyCh <- ev:
	case <-s.quit:
	}
}

// notifySocketAddr is where the notify socket of the service directory dir
// (absolute) is bound: DIR/supervise/notify, or an abstract address when
// that path does not fit in a socket address.
func notifySocketAddr(dir string) string {
	p := filepath.Join(dir, "supervise", "notify")
	if len(p) < len(unix.RawSockaddrUnix{}.Path) {
		return p
	}
	h := fnv.New64a()
	h.Write([]byte(dir))
	return fmt.Sprintf("@ichi-supervise/%d/%x", os.Getpid(), h.Sum64())
}

// listenNotify binds the datagram socket at addr and asks the kernel for the
// sender's credentials with each datagram.
func listenNotify(addr string) (*net.UnixConn, error) {
	if !strings.HasPrefix(addr, "@") {
		if err := os.Remove(addr); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil {
		serr = err
	}
	if serr != nil {
		c.Close()
		return nil, fmt.Errorf("SO_PASSCRED: %w", serr)
	}
	return c, nil
}

// notifyBufs holds the buffers datagrams are read into, so that a supervisor
// waiting for a datagram holds none.
var notifyBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// readNotifySocket reports every datagram on c that holds a line READY=1,
// with its sender's pid, until c is closed.
func (s *Supervisor) readNotifySocket(c *net.UnixConn) {
	defer s.wg.Done()
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	for {
		pid := 0
		err := rc.Read(func(fd uintptr) bool {
			bp := notifyBufs.Get().(*[]byte)
			defer notifyBufs.Put(bp)
			var oob [128]byte
			for {
				n, oobn, _, _, err := unix.Recvmsg(int(fd), *bp, oob[:], unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
				switch err {
				case nil:
				case unix.EINTR:
					continue
				case unix.EAGAIN:
					return false
				default:
					return true // a datagram we could not read; try the next
				}
				sender := senderPid(oob[:oobn])
				if sender != 0 && hasLine((*bp)[:n], "READY=1") {
					pid = sender
				}
				return true
			}
		})
		if err != nil {
			return // closed
		}
		if pid != 0 {
			s.sendReady(readyEvent{pid: pid})
		}
	}
}

// senderPid returns the pid in the SCM_CREDENTIALS of a datagram and closes
// any descriptor it carried (systemd's FDSTORE=1), which ichi does not keep.
func senderPid(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	pid := 0
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET {
			continue
		}
		switch m.Header.Type {
		case unix.SCM_CREDENTIALS:
			if cred, err := unix.ParseUnixCredentials(&m); err == nil {
				pid = int(cred.Pid)
			}
		case unix.SCM_RIGHTS:
			if fds, err := unix.ParseUnixRights(&m); err == nil {
				for _, fd := range fds {
					unix.Close(fd)
				}
			}
		}
	}
	return pid
}

// hasLine reports whether msg has line as one of its newline-separated lines.
func hasLine(msg []byte, line string) bool {
	for len(msg) > 0 {
		l := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			l, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		if string(l) == line {
			return true
		}
	}
	return false
}
