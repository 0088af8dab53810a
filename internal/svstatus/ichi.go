package svstatus

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/ichi-init/ichi/internal/tai64n"
)

// ReadyFile and HistoryFile are the names of ichi's own files in supervise/.
const (
	// ReadyFile holds a TAI64N label and a newline: the time the current
	// run of the service became ready. It exists only while the service is
	// up and ready; the supervisor removes it when ./run exits, before it
	// writes the status that says so.
	ReadyFile = "ready"
	// HistoryFile holds one line of space-separated key=value words about
	// the service's past (see History).
	HistoryFile = "ichi"
)

// WriteReady records that the service became ready at t, atomically.
func WriteReady(dir string, t time.Time) error {
	b := make([]byte, 0, tai64n.LabelLen+1)
	b = tai64n.Append(b, t)
	b = append(b, '\n')
	return replace(dir, ReadyFile, b)
}

// RemoveReady removes the readiness file; a missing file is not an error.
func RemoveReady(dir string) error {
	err := os.Remove(Path(dir, ReadyFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove readiness: %w", err)
	}
	return nil
}

// ReadReady returns the time the service became ready and true, or false
// when the readiness file does not exist.
func ReadReady(dir string) (time.Time, bool, error) {
	p := Path(dir, ReadyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	t, err := tai64n.Parse(b)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s: %w", p, err)
	}
	return t, true, nil
}

// History is what the supervisor knows about the service's past that the
// status file has no room for. Its file is one line:
//
//	restarts=N [exit=CODE | signal=NUMBER]
//
// restarts counts the starts of ./run after the first one since the
// supervisor started; exit is the exit code of the last ./run that exited,
// signal the number of the signal that killed it (neither is present before
// ./run has ended once). Readers ignore words they do not know, so that
// writers may add some.
type History struct {
	// Restarts is the number of times ./run was started again.
	Restarts int
	// Exited reports that ./run has ended at least once; Code and Signal
	// describe the last time.
	Exited bool
	// Code is the last exit code, when Signal is 0.
	Code int
	// Signal is the signal that killed the last ./run, or 0.
	Signal int
}

// HistoryOf returns the History of a service restarted restarts times whose
// last ./run ended with the wait status ws.
func HistoryOf(restarts int, ws syscall.WaitStatus) History {
	h := History{Restarts: restarts, Exited: true}
	if ws.Signaled() {
		h.Signal = int(ws.Signal())
	} else {
		h.Code = ws.ExitStatus()
	}
	return h
}

// Encode returns the line of the history file, newline included.
func (h History) Encode() []byte {
	b := make([]byte, 0, 40)
	b = append(b, "restarts="...)
	b = strconv.AppendInt(b, int64(h.Restarts), 10)
	if h.Exited {
		if h.Signal != 0 {
			b = append(b, " signal="...)
			b = strconv.AppendInt(b, int64(h.Signal), 10)
		} else {
			b = append(b, " exit="...)
			b = strconv.AppendInt(b, int64(h.Code), 10)
		}
	}
	return append(b, '\n')
}

// ErrHistory is returned for a history file that cannot be parsed.
var ErrHistory = errors.New("bad history line")

// DecodeHistory parses a history line.
func DecodeHistory(b []byte) (History, error) {
	var h History
	line, _, _ := bytes.Cut(b, []byte("\n"))
	seen := false
	for _, word := range bytes.Fields(line) {
		k, v, ok := bytes.Cut(word, []byte("="))
		if !ok {
			return History{}, fmt.Errorf("%w: %q", ErrHistory, word)
		}
		var dst *int
		switch string(k) {
		case "restarts":
			dst, seen = &h.Restarts, true
		case "exit":
			dst, h.Exited = &h.Code, true
		case "signal":
			dst, h.Exited = &h.Signal, true
		default:
			continue
		}
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 0 {
			return History{}, fmt.Errorf("%w: %q", ErrHistory, word)
		}
		*dst = n
	}
	if !seen {
		return History{}, fmt.Errorf("%w: no restarts= in %q", ErrHistory, line)
	}
	return h, nil
}

// WriteHistory replaces DIR/supervise/ichi with h, atomically.
func WriteHistory(dir string, h History) error {
	return replace(dir, HistoryFile, h.Encode())
}

// ReadHistory reads DIR/supervise/ichi. It returns false, and no error, when
// the file does not exist (a supervisor other than ichi's).
func ReadHistory(dir string) (History, bool, error) {
	p := Path(dir, HistoryFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return History{}, false, nil
	}
	if err != nil {
		return History{}, false, err
	}
	h, err := DecodeHistory(b)
	if err != nil {
		return History{}, false, fmt.Errorf("%s: %w", p, err)
	}
	return h, true, nil
}
