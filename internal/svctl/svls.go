package svctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/errstr"
	"github.com/ichi-init/ichi/internal/sgetopt"
	"github.com/ichi-init/ichi/internal/svstatus"
	"golang.org/x/sys/unix"
)

// Service is one row of svls: what the files of one service directory say.
// Its JSON form is svls -j's output.
type Service struct {
	// Name is the entry of the scan directory, with "/log" for a logger.
	Name string `json:"name"`
	// Dir is the service directory.
	Dir string `json:"dir"`
	// Supervised reports that a supervisor has supervise/ok open.
	Supervised bool `json:"supervised"`
	// State is "up", "down", "finish" (runit's ./finish running),
	// "unsupervised" or "error".
	State string `json:"state"`
	// Pid is the pid in the status file, 0 when down.
	Pid int `json:"pid,omitempty"`
	// Since is the time of the last change; Seconds is the time since then.
	Since   *time.Time `json:"since,omitempty"`
	Seconds *int64     `json:"seconds,omitempty"`
	// Want is "up", "down" or "" (daemontools after svc -o).
	Want string `json:"want,omitempty"`
	// NormallyUp reports that the directory has no down file.
	NormallyUp bool `json:"normally_up"`
	Paused     bool `json:"paused,omitempty"`
	// Term reports (runit's layout) that a TERM is pending.
	Term bool `json:"term,omitempty"`
	// Ready is null when the supervisor does not report readiness (it is
	// not ichi's), otherwise whether the current run is ready.
	Ready      *bool      `json:"ready"`
	ReadySince *time.Time `json:"ready_since,omitempty"`
	// Restarts is null when unknown (a supervisor other than ichi's).
	Restarts *int `json:"restarts"`
	// LastExit is null when unknown or when ./run has not ended yet.
	LastExit *Exit `json:"last_exit"`
	// Error describes why the service's files could not be read.
	Error string `json:"error,omitempty"`
}

// Exit is how the last ./run ended.
type Exit struct {
	// Code is the exit code, or 128 plus the signal's number when a
	// signal killed ./run, as a shell reports it.
	Code int `json:"code"`
	// Signal is the name of the signal that killed ./run ("SIGKILL").
	Signal string `json:"signal,omitempty"`
}

// String returns the exit as svls prints it: the code, or the signal's name.
func (e *Exit) String() string {
	if e == nil {
		return "-"
	}
	if e.Signal != "" {
		return e.Signal
	}
	return strconv.Itoa(e.Code)
}

const svlsSynopsis = "[-j] [scandir]"

// SvlsMain is svls, ichi's status overview:
//
//	svls [-j] [scandir]
//
// For every service directory in scandir ($SVDIR, or /service, by
// default), and for its log/ subdirectory when there is one, it prints a
// line: name, state, pid, time in that state, readiness, restarts, last
// exit, and the flags svstat would add (normally down, paused, want up,
// want down, got TERM). A value the supervisor does not publish is "-"
// (daemontools' supervise and runit's runsv keep no readiness, restarts or
// exit status in files). With -j the same is printed as a JSON array.
//
// Entries whose names start with '.' are skipped, as svscan skips them.
// The status is 0, 100 for a usage error and 111 when scandir cannot be
// read.
func SvlsMain(argv []string) int { return svls(argv, stdout, cli.Stderr, time.Now()) }

func svls(argv []string, out, stderr io.Writer, now time.Time) int {
	const name = "svls"
	asJSON := false
	p := sgetopt.New(argv, "j", stderr)
	for {
		c := p.Next()
		if c == sgetopt.Done {
			break
		}
		if c != 'j' {
			return usage(stderr, name, svlsSynopsis)
		}
		asJSON = true
	}
	args := argv[p.Index:]
	if len(args) > 1 {
		return usage(stderr, name, svlsSynopsis)
	}
	scan := os.Getenv("SVDIR")
	if scan == "" {
		scan = "/service"
	}
	if len(args) == 1 {
		scan = args[0]
	}
	services, err := Scan(scan, now)
	if err != nil {
		return fatal(stderr, cli.ExitTemporary, name, "unable to read %s: %s", scan, errstr.Of(err))
	}
	if asJSON {
		if services == nil {
			services = []Service{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(services)
	} else {
		err = printTable(out, services)
	}
	if err != nil {
		return fatal(stderr, cli.ExitTemporary, name, "unable to write output: %s", errstr.Of(err))
	}
	return 0
}

// Scan reads the state of every service in the scan directory scan, in
// name order, each followed at once by its logger when it has a log/
// directory.
// It fails only when scan itself cannot be read.
func Scan(scan string, now time.Time) ([]Service, error) {
	entries, err := os.ReadDir(scan)
	if err != nil {
		return nil, err
	}
	var out []Service
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(scan, e.Name())
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		out = append(out, Inspect(e.Name(), dir, now))
		logDir := filepath.Join(dir, "log")
		if fi, err := os.Stat(logDir); err == nil && fi.IsDir() {
			out = append(out, Inspect(e.Name()+"/log", logDir, now))
		}
	}
	return out, nil
}

// Inspect reads the state of the service directory dir, named name.
func Inspect(name, dir string, now time.Time) Service {
	s := Service{Name: name, Dir: dir, NormallyUp: true}
	if _, err := os.Stat(filepath.Join(dir, "down")); err == nil {
		s.NormallyUp = false
	} else if !errors.Is(err, fs.ErrNotExist) {
		return s.fail("stat down", err)
	}
	switch err := probe(dir); {
	case errors.Is(err, errNotRunning):
		s.State = "unsupervised"
		return s
	case err != nil:
		return s.fail("open supervise/ok", err)
	}
	s.Supervised = true
	st, err := svstatus.ReadStatus(dir)
	if err != nil {
		return s.fail("read supervise/status", err)
	}
	s.Pid = st.Pid
	since := st.Since
	secs := max(0, now.Unix()-since.Unix())
	s.Since, s.Seconds = &since, &secs
	s.Paused, s.Term = st.Paused, st.Term
	switch st.Want {
	case 'u':
		s.Want = "up"
	case 'd':
		s.Want = "down"
	}
	switch {
	case st.State == svstatus.Finish:
		s.State = "finish"
	case st.Pid != 0:
		s.State = "up"
	default:
		s.State = "down"
	}

	h, known, err := svstatus.ReadHistory(dir)
	if err != nil {
		return s.fail("read supervise/ichi", err)
	}
	if known {
		s.Restarts = &h.Restarts
	}
	if known && h.Exited {
		s.LastExit = &Exit{Code: h.Code}
		if h.Signal != 0 {
			s.LastExit = &Exit{Code: 128 + h.Signal, Signal: unix.SignalName(syscall.Signal(h.Signal))}
			if s.LastExit.Signal == "" {
				s.LastExit.Signal = "signal " + strconv.Itoa(h.Signal)
			}
		}
	}
	at, ok, err := svstatus.ReadReady(dir)
	if err != nil {
		return s.fail("read supervise/ready", err)
	}
	ready := ok && st.Up() && !at.Before(st.Since)
	if ready {
		s.ReadySince = &at
	}
	// Only ichi's supervisor reports readiness: "no" is known only there.
	if ready || known || ichiSupervisor(dir) {
		s.Ready = &ready
	}
	return s
}

// ichiSupervisor reports whether the supervisor of dir is ichi's, from the
// files only it creates: the history file, or the notification socket.
func ichiSupervisor(dir string) bool {
	for _, name := range []string{svstatus.HistoryFile, "notify"} {
		if _, err := os.Lstat(svstatus.Path(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// fail marks s as unreadable because of err while doing what. An error
// without an errno is a file's bad content.
func (s Service) fail(what string, err error) Service {
	s.State = "error"
	why := "bad format"
	var errno syscall.Errno
	if errors.As(err, &errno) {
		why = errstr.Errno(errno)
	}
	s.Error = what + ": " + why
	return s
}

// flags returns the words svls adds after the columns.
func (s Service) flags() string {
	if s.Error != "" {
		return s.Error
	}
	var f []string
	up := s.Pid != 0
	if s.Supervised {
		if up && !s.NormallyUp {
			f = append(f, "normally down")
		}
		if !up && s.NormallyUp {
			f = append(f, "normally up")
		}
		if up && s.Paused {
			f = append(f, "paused")
		}
		if !up && s.Want == "up" {
			f = append(f, "want up")
		}
		if up && s.Want == "down" {
			f = append(f, "want down")
		}
		if s.Term {
			f = append(f, "got TERM")
		}
	}
	return strings.Join(f, ", ")
}

// printTable writes the services as aligned columns with a header, with no
// spaces at the ends of lines.
func printTable(out io.Writer, services []Service) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tPID\tTIME\tREADY\tRESTARTS\tEXIT\tFLAGS")
	for _, s := range services {
		pid, since, ready, restarts := "-", "-", "-", "-"
		if s.Pid != 0 {
			pid = strconv.Itoa(s.Pid)
		}
		if s.Seconds != nil {
			since = FormatSeconds(*s.Seconds)
		}
		if s.Ready != nil {
			ready = "no"
			if *s.Ready {
				ready = "yes"
			}
		}
		if s.Restarts != nil {
			restarts = strconv.Itoa(*s.Restarts)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			s.Name, s.State, pid, since, ready, restarts, s.LastExit.String(), s.flags())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var trimmed []byte
	for line := range bytes.Lines(buf.Bytes()) {
		trimmed = append(trimmed, bytes.TrimRight(line, " \n")...)
		trimmed = append(trimmed, '\n')
	}
	_, err := out.Write(trimmed)
	return err
}

// FormatSeconds writes a duration in seconds in at most two units, the way
// an administrator reads an uptime: 42s, 5m07s, 3h02m, 12d04h.
func FormatSeconds(secs int64) string {
	switch {
	case secs < 60:
		return fmt.Sprintf("%ds", secs)
	case secs < 3600:
		return fmt.Sprintf("%dm%02ds", secs/60, secs%60)
	case secs < 86400:
		return fmt.Sprintf("%dh%02dm", secs/3600, secs%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", secs/86400, secs%86400/3600)
}
