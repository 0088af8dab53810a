package svstatus

import "strconv"

// StatFile and PidFile are the names of runit's two text files in
// supervise/, which runsv keeps beside the binary status file for people and
// scripts to read.
const (
	// StatFile holds one line: the run state in words and its flags (see
	// StatLine).
	StatFile = "stat"
	// PidFile holds the pid of ./run (or of ./finish) and a newline; it is
	// empty while the service is down.
	PidFile = "pid"
)

// StatLine returns the line of runit's supervise/stat for s: "run", "down"
// or "finish", then ", paused" and ", got TERM" when those flags are set,
// then, for a service that is not down, ", want exit" when the supervisor
// is about to exit (exiting) or else ", want down" when s.Want is not 'u'.
func StatLine(s Status, exiting bool) []byte {
	b := make([]byte, 0, 40)
	switch s.State {
	case Run:
		b = append(b, "run"...)
	case Finish:
		b = append(b, "finish"...)
	default:
		b = append(b, "down"...)
	}
	if s.Paused {
		b = append(b, ", paused"...)
	}
	if s.Term {
		b = append(b, ", got TERM"...)
	}
	if s.State != Down {
		switch {
		case exiting:
			b = append(b, ", want exit"...)
		case s.Want != 'u':
			b = append(b, ", want down"...)
		}
	}
	return append(b, '\n')
}

// WriteStat replaces DIR/supervise/stat with StatLine(s, exiting),
// atomically.
func WriteStat(dir string, s Status, exiting bool) error {
	return replace(dir, StatFile, StatLine(s, exiting))
}

// pidLine is the content of runit's supervise/pid: the pid and a newline,
// nothing when pid is 0.
func pidLine(pid int) []byte {
	if pid == 0 {
		return nil
	}
	return append(strconv.AppendInt(make([]byte, 0, 12), int64(pid), 10), '\n')
}

// WritePid replaces DIR/supervise/pid with pid and a newline, or with an
// empty file when pid is 0, atomically.
func WritePid(dir string, pid int) error {
	return replace(dir, PidFile, pidLine(pid))
}
