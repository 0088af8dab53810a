package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Readiness comes from one of two conventions.
//
// s6: the service directory holds a file notification-fd containing a
// number N (3 or more). ./run gets the write end of a pipe as descriptor N
// and writes a newline on it when it is ready.
//
// systemd: ./run's environment names a datagram socket in NOTIFY_SOCKET (see
// NotifyHub). A datagram with a line READY=1, sent by ./run itself or by a
// process in its session, marks the service ready.

// readyEvent reports a readiness notification to the supervisor's loop.
type readyEvent struct {
	gen     uint64 // the start it belongs to (notification-fd); 0 for the socket
	session int    // the sender's session, the pid of a ./run (socket); 0 for notification-fd
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
