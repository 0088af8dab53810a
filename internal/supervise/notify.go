package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// NotifyHub is a NOTIFY_SOCKET, systemd's readiness socket, that any number
// of supervisors share: a scanner binds one for all its services instead of
// one per service, so that a service costs its supervisor no socket.
//
// Every datagram carries its sender's pid (SO_PASSCRED, SCM_CREDENTIALS). A
// datagram with a line READY=1 goes to the supervisor whose ./run leads the
// sender's session: ./run runs in a session of its own, so the session id of
// ./run and of every process it starts without leaving its session is the
// pid of ./run. Datagrams from other processes, and lines other than
// READY=1, are ignored; descriptors passed with a datagram are closed.
//
// A datagram can come before its supervisor has learnt the pid of the ./run
// that sent it (./run may notify at once, before Spawn has returned). The
// hub keeps the last 64 such notifications for 10 seconds, and hands one
// over when a supervisor starts watching that session, provided it came
// after the supervisor began to start that ./run (a notification older than
// that came from an earlier process with the same pid).
type NotifyHub struct {
	addr string
	conn *net.UnixConn
	done chan struct{} // closed when the reader has returned
	stop sync.Once

	mu      sync.Mutex
	watches map[int]*notifyWatch // by session: the pid of a running ./run
	pending []pendingReady       // READY=1 from sessions not watched (yet), oldest first
}

// notifyWatch is one watched ./run; ready tells its supervisor.
type notifyWatch struct{ ready func(session int) }

// pendingReady is a READY=1 that no supervisor has claimed yet.
type pendingReady struct {
	session int
	at      time.Time
}

const (
	pendingMax = 64
	pendingFor = 10 * time.Second
)

// NotifyAddr returns the address for a notification socket meant to live at
// path: path itself when it fits in a socket address, else an abstract name
// (starting with @) made of the process's pid and a hash of path.
func NotifyAddr(path string) string {
	if len(path) < len(unix.RawSockaddrUnix{}.Path) {
		return path
	}
	h := fnv.New64a()
	h.Write([]byte(path))
	return fmt.Sprintf("@ichi-notify/%d/%x", os.Getpid(), h.Sum64())
}

// NewNotifyHub binds a datagram socket at addr (a path, replacing a socket
// left there, or an abstract name starting with @) and starts reading it.
// Close stops it.
func NewNotifyHub(addr string) (*NotifyHub, error) {
	c, err := listenNotify(addr)
	if err != nil {
		return nil, fmt.Errorf("unable to bind %s: %w", addr, err)
	}
	h := &NotifyHub{
		addr:    addr,
		conn:    c,
		done:    make(chan struct{}),
		watches: make(map[int]*notifyWatch),
	}
	go h.read()
	return h, nil
}

// Addr returns the hub's address, the value of NOTIFY_SOCKET.
func (h *NotifyHub) Addr() string { return h.addr }

// Close stops reading, waits for the reader, closes the socket and removes
// its file. Supervisors still using the hub get no more notifications.
func (h *NotifyHub) Close() error {
	var err error
	h.stop.Do(func() {
		err = h.conn.Close()
		<-h.done
		if !strings.HasPrefix(h.addr, "@") {
			if rerr := os.Remove(h.addr); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
				err = rerr
			}
		}
	})
	return err
}

// watch sends the READY=1 notifications of session (the pid of a ./run just
// started) to ready, including one the hub received since since and kept.
// ready is called from the hub's goroutine and must not block. The returned
// function ends the watch.
func (h *NotifyHub) watch(session int, since time.Time, ready func(session int)) (unwatch func()) {
	w := &notifyWatch{ready: ready}
	claimed := false
	h.mu.Lock()
	h.watches[session] = w
	kept := h.pending[:0]
	for _, p := range h.pending {
		if p.session == session {
			claimed = claimed || !p.at.Before(since)
			continue
		}
		kept = append(kept, p)
	}
	clear(h.pending[len(kept):])
	h.pending = kept
	h.mu.Unlock()
	if claimed {
		ready(session)
	}
	return func() {
		h.mu.Lock()
		if h.watches[session] == w {
			delete(h.watches, session)
		}
		h.mu.Unlock()
	}
}

// deliver routes a READY=1 from sender to the supervisor of its session, or
// keeps it for a supervisor about to watch that session.
func (h *NotifyHub) deliver(sender int, at time.Time) {
	session, err := unix.Getsid(sender)
	if err != nil {
		return // the sender is gone; its session cannot be known
	}
	h.mu.Lock()
	w := h.watches[session]
	if w == nil {
		drop := 0
		for drop < len(h.pending) && (at.Sub(h.pending[drop].at) > pendingFor || len(h.pending)-drop >= pendingMax) {
			drop++
		}
		h.pending = append(h.pending[drop:], pendingReady{session: session, at: at})
	}
	h.mu.Unlock()
	if w != nil {
		w.ready(session)
	}
}

// read passes every READY=1 datagram on the socket to deliver, until Close.
func (h *NotifyHub) read() {
	defer close(h.done)
	rc, err := h.conn.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 4096)
	var oob [128]byte
	for {
		sender := 0
		err := rc.Read(func(fd uintptr) bool {
			for {
				n, oobn, _, _, err := unix.Recvmsg(int(fd), buf, oob[:], unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
				switch err {
				case nil:
				case unix.EINTR:
					continue
				case unix.EAGAIN:
					return false
				default:
					return true // a datagram we could not read; try the next
				}
				if pid := senderPid(oob[:oobn]); pid != 0 && hasLine(buf[:n], "READY=1") {
					sender = pid
				}
				return true
			}
		})
		if err != nil {
			return // closed
		}
		if sender != 0 {
			h.deliver(sender, time.Now())
		}
	}
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
		return nil, unwrapNet(err)
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

// unwrapNet keeps the cause of a failed bind: the message names the address.
func unwrapNet(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		if se, ok := oe.Err.(*os.SyscallError); ok {
			return se.Err
		}
		return oe.Err
	}
	return err
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
