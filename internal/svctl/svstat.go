package svctl

import (
	"io"
	"os"
	"strconv"
	"time"

	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/errstr"
	"github.com/ichi-init/ichi/internal/svstatus"
	"golang.org/x/sys/unix"
)

// SvstatMain is svstat: one line on standard output for every directory
// named, saying whether a supervisor runs there and what its status file
// says, word for word as daemontools 0.76 prints it:
//
//	DIR: up (pid 123) 45 seconds[, normally down][, paused][, want down]
//	DIR: down 45 seconds[, normally up][, want up]
//	DIR: supervise not running
//	DIR: unable to chdir: file does not exist
//
// The status is 0 whatever the services' state, 111 when the working
// directory cannot be kept.
func SvstatMain(argv []string) int { return svstat(argv, stdout, cli.Stderr, time.Now) }

func svstat(argv []string, out, stderr io.Writer, now func() time.Time) int {
	const name = "svstat"
	orig, err := os.Open(".")
	if err != nil {
		return fatal(stderr, cli.ExitTemporary, name, "unable to open current directory: %s", errstr.Of(err))
	}
	defer orig.Close()
	w := flushTo(out)
	var line []byte
	// One buffer for every directory, as in daemontools: a status file
	// that cannot be read (a directory, say) leaves the previous one's
	// bytes, or zeros, and svstat prints those.
	var raw [svstatus.DaemontoolsSize]byte
	for _, dir := range argv[min(1, len(argv)):] {
		line = append(line[:0], dir...)
		line = append(line, ": "...)
		cerr, berr := inDir(orig, dir, func() { line = statusLine(line, &raw, now()) })
		if cerr != nil {
			line = append(line, "unable to chdir: "...)
			line = append(line, errstr.Of(cerr)...)
		}
		line = append(line, '\n')
		w.Write(line)
		if berr != nil {
			w.Flush()
			return fatal(stderr, cli.ExitTemporary, name, "unable to set directory: %s", errstr.Of(berr))
		}
	}
	w.Flush()
	return 0
}

// statusLine appends the state of the service in the working directory to b,
// in svstat's words, with now as the current time. It reads the status file
// into raw.
func statusLine(b []byte, raw *[svstatus.DaemontoolsSize]byte, now time.Time) []byte {
	// Raw system calls: svstat may report on thousands of directories.
	normallyUp := false
	var st unix.Stat_t
	if err := unix.Stat("down", &st); err != nil {
		if err != unix.ENOENT {
			return append(append(b, "unable to stat down: "...), errstr.Of(err)...)
		}
		normallyUp = true
	}
	fd, err := openFIFOWrite("supervise/ok")
	if err == unix.ENXIO {
		return append(b, "supervise not running"...)
	}
	if err != nil {
		return append(append(b, "unable to open supervise/ok: "...), errstr.Of(err)...)
	}
	unix.Close(fd)

	fd, err = unix.Open("supervise/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return append(append(b, "unable to open supervise/status: "...), errstr.Of(err)...)
	}
	// daemontools reads once, up to its 18 bytes; runit's two extra bytes
	// do not change the line. A failed read (-1) passes daemontools'
	// unsigned size check, so it reports what the buffer holds.
	n, err := readOnce(fd, raw[:])
	unix.Close(fd)
	if n < len(raw) && err == nil {
		return append(b, "unable to read supervise/status: bad format"...)
	}
	status, _ := svstatus.Decode(raw[:])
	return appendStatus(b, status, normallyUp, now)
}

// readOnce is one read(2), retried only when interrupted.
func readOnce(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return max(n, 0), err
		}
	}
}

// appendStatus appends svstat's words for st to b.
func appendStatus(b []byte, st svstatus.Status, normallyUp bool, now time.Time) []byte {
	secs := elapsed(st.Since, now)
	if st.Pid != 0 {
		b = append(b, "up (pid "...)
		b = strconv.AppendUint(b, uint64(uint32(st.Pid)), 10)
		b = append(b, ") "...)
	} else {
		b = append(b, "down "...)
	}
	b = strconv.AppendUint(b, secs, 10)
	b = append(b, " seconds"...)
	up := st.Pid != 0
	if up && !normallyUp {
		b = append(b, ", normally down"...)
	}
	if !up && normallyUp {
		b = append(b, ", normally up"...)
	}
	if up && st.Paused {
		b = append(b, ", paused"...)
	}
	if !up && st.Want == 'u' {
		b = append(b, ", want up"...)
	}
	if up && st.Want == 'd' {
		b = append(b, ", want down"...)
	}
	return b
}

// elapsed returns the seconds from since to now as daemontools' svstat
// computes them: TAI64 seconds only, a change in the future counting as
// now, and the difference passed through a double (tai_approx), which
// rounds differences above 2^53 seconds.
func elapsed(since, now time.Time) uint64 {
	const offset = uint64(1)<<62 + 10
	from := uint64(since.Unix()) + offset
	to := uint64(now.Unix()) + offset
	if to < from {
		return 0
	}
	return uint64(float64(to - from))
}
