package supervise

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ichi-init/ichi/internal/tai64n"
	"golang.org/x/sys/unix"
)

// StatusLen is the size of supervise/status: runit's layout. Its first
// DaemontoolsStatusLen bytes are daemontools' layout, which is all that
// daemontools' svstat, svok and svc read.
const (
	StatusLen            = 20
	DaemontoolsStatusLen = 18
)

// RunState is byte 19 of supervise/status, runit's run state.
type RunState byte

const (
	// StateDown: neither ./run nor ./finish is running.
	StateDown RunState = 0
	// StateRun: ./run is running.
	StateRun RunState = 1
	// StateFinish: ./finish is running after ./run exited.
	StateFinish RunState = 2
)

// StatusFile is the content of supervise/status.
//
//	bytes  0-11  TAI64N label of the last change (run started, or service down)
//	bytes 12-15  pid of ./run or ./finish, little endian, 0 when down
//	byte  16     1 when paused (svc -p), else 0
//	byte  17     'u' when the service is wanted up, 'd' when wanted down or once
//	byte  18     1 when ./run was sent TERM and has not exited yet (runit)
//	byte  19     RunState (runit)
type StatusFile struct {
	When    time.Time
	Pid     int
	Paused  bool
	WantUp  bool
	GotTerm bool
	State   RunState
}

// Marshal returns the 20 bytes of the status file.
func (s StatusFile) Marshal() [StatusLen]byte {
	var b [StatusLen]byte
	// A TAI64N label is '@' and the 12 bytes of the binary form in hex.
	var label [tai64n.LabelLen]byte
	tai64n.Append(label[:0], s.When)
	hex.Decode(b[:12], label[1:])
	pid := uint32(s.Pid)
	b[12], b[13], b[14], b[15] = byte(pid), byte(pid>>8), byte(pid>>16), byte(pid>>24)
	if s.Paused {
		b[16] = 1
	}
	b[17] = 'd'
	if s.WantUp {
		b[17] = 'u'
	}
	if s.GotTerm {
		b[18] = 1
	}
	b[19] = byte(s.State)
	return b
}

// ErrStatusFormat is returned by ParseStatus for a file of the wrong size.
var ErrStatusFormat = errors.New("bad format")

// ParseStatus decodes a status file written by ichi or runit (20 bytes) or
// by daemontools (18 bytes; GotTerm is false and State is derived from the
// pid). A want byte of 0 (daemontools' "once") reads as not WantUp.
func ParseStatus(b []byte) (StatusFile, error) {
	if len(b) != StatusLen && len(b) != DaemontoolsStatusLen {
		return StatusFile{}, fmt.Errorf("%w: %d bytes", ErrStatusFormat, len(b))
	}
	var label [tai64n.LabelLen]byte
	label[0] = '@'
	hex.Encode(label[1:], b[:12])
	when, err := tai64n.Parse(label[:])
	if err != nil {
		return StatusFile{}, fmt.Errorf("%w: %v", ErrStatusFormat, err)
	}
	s := StatusFile{
		When:   when,
		Pid:    int(uint32(b[12]) | uint32(b[13])<<8 | uint32(b[14])<<16 | uint32(b[15])<<24),
		Paused: b[16] != 0,
		WantUp: b[17] == 'u',
	}
	if len(b) == StatusLen {
		s.GotTerm = b[18] != 0
		s.State = RunState(b[19])
	} else if s.Pid != 0 {
		s.State = StateRun
	}
	return s, nil
}

// statText is runit's supervise/stat line: "run", "down" or "finish",
// then ", paused", ", got TERM", and for a service not down ", want down"
// or ", want exit".
func statText(st RunState, paused, gotTerm, wantDown, exiting bool) []byte {
	b := make([]byte, 0, 40)
	switch st {
	case StateRun:
		b = append(b, "run"...)
	case StateFinish:
		b = append(b, "finish"...)
	default:
		b = append(b, "down"...)
	}
	if paused {
		b = append(b, ", paused"...)
	}
	if gotTerm {
		b = append(b, ", got TERM"...)
	}
	if st != StateDown {
		switch {
		case exiting:
			b = append(b, ", want exit"...)
		case wantDown:
			b = append(b, ", want down"...)
		}
	}
	return append(b, '\n')
}

// pidText is runit's supervise/pid: the pid and a newline, empty when down.
func pidText(pid int) []byte {
	if pid == 0 {
		return nil
	}
	return append(strconv.AppendInt(make([]byte, 0, 12), int64(pid), 10), '\n')
}

// replaceFile writes data to dir/name.new and renames it over dir/name, so
// that a reader sees the old content or the new, never a mix.
func replaceFile(dir, name string, data []byte) error {
	final := filepath.Join(dir, name)
	tmp := final + ".new"
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", tmp, err)
	}
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			unix.Unlink(tmp)
			return fmt.Errorf("write %s: %w", tmp, err)
		}
		data = data[n:]
	}
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := unix.Rename(tmp, final); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, name, err)
	}
	return nil
}
