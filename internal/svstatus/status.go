// Package svstatus reads and writes the state files a supervisor keeps in a
// service's supervise/ directory: the binary status file that daemontools'
// svstat, svok and svc and runit's sv read, runit's text files "stat" and
// "pid", and ichi's own two additions, the readiness file "ready" and the
// history file "ichi". ichi's supervisor writes them all with this package
// and ichi's tools read them with it.
//
// The status file is runit's 20-byte layout, whose first 18 bytes are
// daemontools' 0.76 layout:
//
//	bytes  0-11  TAI64N of the last change (8 bytes seconds, 4 bytes nanoseconds, big endian)
//	bytes 12-15  pid of ./run (or of ./finish under runit), little endian; 0 when down
//	byte  16     paused flag (1 after svc -p, 0 after svc -c)
//	byte  17     want: 'u' (up), 'd' (down), 0 (daemontools after svc -o)
//	byte  18     runit: 1 while a TERM sent to the service has not taken effect
//	byte  19     runit: run state, 0 down, 1 run, 2 finish
//
// Readers accept both sizes. Writers always write 20 bytes. Every file is
// replaced atomically (written to NAME.new, which is renamed over NAME), as
// runsv does, so a reader sees the old content or the new, never a mix.
//
// The package is a codec and file helper only: it does not supervise, lock,
// or know about FIFOs.
package svstatus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Sizes of the two status layouts.
const (
	// DaemontoolsSize is the size of daemontools 0.76's status file.
	DaemontoolsSize = 18
	// RunitSize is the size of runit's status file, which ichi writes.
	RunitSize = 20
)

// taiOffset is what daemontools and runit add to Unix seconds: 2^62 + 10.
const taiOffset = uint64(1)<<62 + 10

// RunState is runit's run state, byte 19 of its status file.
type RunState byte

// The run states runsv writes.
const (
	Down   RunState = 0 // no ./run (and no ./finish) is running
	Run    RunState = 1 // ./run is running
	Finish RunState = 2 // ./run has exited and ./finish is running
)

// String returns the state as runit's supervise/stat file words it.
func (s RunState) String() string {
	switch s {
	case Down:
		return "down"
	case Run:
		return "run"
	case Finish:
		return "finish"
	}
	return fmt.Sprintf("state(%d)", byte(s))
}

// Status is the content of a status file.
type Status struct {
	// Since is the time of the last change of the service: when ./run was
	// started, or when it went down. Pausing does not change it.
	Since time.Time
	// Pid is the process the supervisor watches, 0 when the service is down.
	Pid int
	// Paused reports that the service was sent STOP by svc -p.
	Paused bool
	// Want is 'u' or 'd'; daemontools writes 0 after svc -o.
	Want byte
	// Term reports (runit) that a TERM was sent and the service has not
	// exited yet.
	Term bool
	// State is runit's run state. For an 18-byte daemontools file, Decode
	// derives it from Pid: Run when a pid is set, Down otherwise.
	State RunState
	// Size is the size of the file the status was decoded from
	// (DaemontoolsSize or RunitSize); Encode ignores it.
	Size int
}

// ErrFormat is returned for a status file of the wrong size.
var ErrFormat = errors.New("bad format")

// Encode returns the 20-byte runit layout of s.
func (s Status) Encode() [RunitSize]byte {
	var b [RunitSize]byte
	secs := uint64(s.Since.Unix()) + taiOffset
	binary.BigEndian.PutUint64(b[0:8], secs)
	binary.BigEndian.PutUint32(b[8:12], uint32(s.Since.Nanosecond()))
	binary.LittleEndian.PutUint32(b[12:16], uint32(s.Pid))
	if s.Paused {
		b[16] = 1
	}
	b[17] = s.Want
	if s.Term {
		b[18] = 1
	}
	b[19] = byte(s.State)
	return b
}

// Decode reads a status file's content: daemontools' 18 bytes or runit's 20.
// Longer input is read as runit's layout with the excess ignored, as
// daemontools' svstat ignores bytes past its 18.
func Decode(b []byte) (Status, error) {
	if len(b) < DaemontoolsSize {
		return Status{}, fmt.Errorf("%w: %d bytes", ErrFormat, len(b))
	}
	secs := binary.BigEndian.Uint64(b[0:8])
	nanos := binary.BigEndian.Uint32(b[8:12])
	if nanos > 999999999 {
		nanos = 0
	}
	s := Status{
		Since:  time.Unix(int64(secs-taiOffset), int64(nanos)),
		Pid:    int(binary.LittleEndian.Uint32(b[12:16])),
		Paused: b[16] != 0,
		Want:   b[17],
		Size:   DaemontoolsSize,
	}
	if len(b) >= RunitSize {
		s.Term = b[18] != 0
		s.State = RunState(b[19])
		s.Size = RunitSize
	} else if s.Pid != 0 {
		s.State = Run
	}
	return s, nil
}

// Up reports whether ./run is running: runit's state when the file has it,
// otherwise a pid is set (daemontools' own meaning, which svstat prints).
func (s Status) Up() bool {
	if s.Size == RunitSize {
		return s.State == Run && s.Pid != 0
	}
	return s.Pid != 0
}

// Path returns the path of the file name in the supervise directory of the
// service directory dir.
func Path(dir, name string) string {
	return filepath.Join(dir, "supervise", name)
}

// ReadStatus reads DIR/supervise/status.
func ReadStatus(dir string) (Status, error) {
	p := Path(dir, "status")
	b, err := os.ReadFile(p)
	if err != nil {
		return Status{}, err
	}
	s, err := Decode(b)
	if err != nil {
		return Status{}, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

// WriteStatus replaces DIR/supervise/status with s, atomically: it writes
// DIR/supervise/status.new and renames it over the old file.
func WriteStatus(dir string, s Status) error {
	b := s.Encode()
	return replace(dir, "status", b[:])
}

// replace writes data to DIR/supervise/NAME.new and renames it to NAME.
func replace(dir, name string, data []byte) error {
	p := Path(dir, name)
	tmp := p + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
