package svctl

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unsafe"

	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/errstr"
	"github.com/ichi-init/ichi/internal/sgetopt"
	"github.com/ichi-init/ichi/internal/svstatus"
	"golang.org/x/sys/unix"
)

// Exit codes of svwait, s6-svwait's.
const (
	// WaitTimedOut is svwait's status when the timeout expired first.
	WaitTimedOut = 99
	// WaitNoSupervisor is svwait's status when a service has no supervisor
	// running, at the start or while waiting.
	WaitNoSupervisor = 102
)

const svwaitSynopsis = "[ -u | -U | -d | -D ] [ -a | -o ] [ -t timeout ] dir..."

// A condition is what svwait waits for in one service.
type condition byte

const (
	condUp        condition = 'u' // ./run is running
	condReady     condition = 'U' // ./run is running and has said it is ready
	condDown      condition = 'd' // ./run is not running (./finish may be)
	condFinished  condition = 'D' // neither ./run nor ./finish is running
	recheckPeriod           = time.Second
)

// SvwaitMain is svwait, ichi's wait tool, modelled on s6-svwait:
//
//	svwait [ -u | -U | -d | -D ] [ -a | -o ] [ -t timeout ] dir...
//
// It waits until the services in the directories named are up (-u, the
// default), up and ready (-U: supervise/ready, written by ichi's
// supervisor, is newer than the start of the current run), down (-d: ./run
// is not running) or down with ./finish done too (-D); all of them (-a, the
// default) or any one (-o); for at most timeout milliseconds (-t; 0, the
// default, waits for ever).
//
// Exit codes: 0 the state was reached (at once when no directory is named),
// 99 timed out, 100 usage, 102 a service has no supervisor running, 111 a
// system call failed.
//
// It sleeps on inotify events of the supervise/ directories (the status and
// ready files being replaced, the supervisor closing supervise/ok as it
// dies), and checks again at least once a second in case a supervisor
// changes its files in a way inotify does not report.
func SvwaitMain(argv []string) int { return svwait(argv, cli.Stderr) }

func svwait(argv []string, stderr io.Writer) int {
	const name = "svwait"
	cond, any, timeout := condUp, false, time.Duration(0)
	p := sgetopt.New(argv, "uUdDaot:", stderr)
	for {
		c := p.Next()
		if c == sgetopt.Done {
			break
		}
		switch c {
		case 'u', 'U', 'd', 'D':
			cond = condition(c)
		case 'a':
			any = false
		case 'o':
			any = true
		case 't':
			ms, err := strconv.ParseUint(p.Arg, 10, 32)
			if err != nil {
				return usage(stderr, name, svwaitSynopsis)
			}
			timeout = time.Duration(ms) * time.Millisecond
		default:
			return usage(stderr, name, svwaitSynopsis)
		}
	}
	dirs := argv[p.Index:]
	if len(dirs) == 0 {
		return 0
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}

	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fatal(stderr, cli.ExitTemporary, name, "unable to create inotify instance: %s", errstr.Of(err))
	}
	defer unix.Close(in)
	const mask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_DELETE | unix.IN_CLOSE_WRITE |
		unix.IN_CLOSE_NOWRITE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
	for _, dir := range dirs {
		if _, err := unix.InotifyAddWatch(in, dir+"/supervise", mask); err != nil {
			if err == unix.ENOENT {
				return fatal(stderr, WaitNoSupervisor, name, "%s: supervise not running", dir)
			}
			return fatal(stderr, cli.ExitTemporary, name, "unable to watch %s/supervise: %s", dir, errstr.Of(err))
		}
	}

	met := make([]bool, len(dirs))
	buf := make([]byte, 4096)
	for {
		done := 0
		for i, dir := range dirs {
			if !met[i] {
				ok, err := reached(dir, cond)
				if errors.Is(err, errNotRunning) {
					return fatal(stderr, WaitNoSupervisor, name, "%s: supervise not running", dir)
				}
				if err != nil {
					return fatal(stderr, cli.ExitTemporary, name, "%s: %s", dir, errstr.Of(err))
				}
				met[i] = ok
			}
			if met[i] {
				done++
			}
		}
		if done == len(dirs) || (any && done > 0) {
			return 0
		}
		wait := recheckPeriod
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return fatal(stderr, WaitTimedOut, name, "timed out")
			}
			wait = min(wait, left)
		}
		if err := awaitChange(in, buf, wait); err != nil {
			return fatal(stderr, cli.ExitTemporary, name, "unable to read inotify events: %s", errstr.Of(err))
		}
	}
}

// reached reports whether the service in dir is in state cond, or
// errNotRunning when no supervisor runs there.
func reached(dir string, cond condition) (bool, error) {
	if err := probe(dir); err != nil {
		return false, err
	}
	st, err := svstatus.ReadStatus(dir)
	if err != nil {
		return false, err
	}
	switch cond {
	case condUp:
		return st.Up(), nil
	case condDown:
		return !st.Up(), nil
	case condFinished:
		return st.Pid == 0, nil
	case condReady:
		if !st.Up() {
			return false, nil
		}
		at, ok, err := svstatus.ReadReady(dir)
		if err != nil || !ok {
			return false, err
		}
		return !at.Before(st.Since), nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// awaitChange sleeps until an inotify event on in says a service's state
// may have changed, or for at most wait. Events caused by svwait itself
// (reading the status files, probing supervise/ok) do not end the sleep.
func awaitChange(in int, buf []byte, wait time.Duration) error {
	end := time.Now().Add(wait)
	fds := []unix.PollFd{{Fd: int32(in), Events: unix.POLLIN}}
	for {
		left := time.Until(end)
		if left <= 0 {
			return nil
		}
		n, err := unix.Poll(fds, int((left+time.Millisecond-1)/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		relevant, err := drainEvents(in, buf)
		if err != nil || relevant {
			return err
		}
	}
}

// drainEvents reads every pending inotify event and reports whether one of
// them concerns the state of a service: the status or ready file created,
// replaced, written or removed; supervise/ok closed by a reader (the
// supervisor exiting; svwait's own probes open it for writing only); or the
// supervise directory itself removed or moved.
func drainEvents(in int, buf []byte) (bool, error) {
	relevant := false
	for {
		n, err := unix.Read(in, buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return relevant, nil
		}
		if err != nil {
			return relevant, err
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			switch name := cString(nameBytes); {
			case ev.Mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED|unix.IN_Q_OVERFLOW) != 0:
				relevant = true
			case name == "status" || name == svstatus.ReadyFile:
				relevant = relevant || ev.Mask&unix.IN_CLOSE_NOWRITE == 0
			case name == "ok":
				relevant = relevant || ev.Mask&unix.IN_CLOSE_NOWRITE != 0
			}
		}
	}
}

// cString returns the NUL-padded name of an inotify event as a string.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// usage prints "NAME: usage: NAME SYNOPSIS" and returns 100.
func usage(stderr io.Writer, name, synopsis string) int {
	fmt.Fprintf(stderr, "%s: usage: %s %s\n", name, name, synopsis)
	return cli.ExitUsage
}
