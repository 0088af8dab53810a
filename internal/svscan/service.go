package svscan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ichi-init/ichi/internal/logd"
	"github.com/ichi-init/ichi/internal/reaper"
	"github.com/ichi-init/ichi/internal/supervise"
)

// LoggerKind says how a service is logged.
type LoggerKind int

const (
	// LogNone: no log/; the service's output goes to the catch-all.
	LogNone LoggerKind = iota
	// LogExternal: log/run, a supervised logger process.
	LogExternal
	// LogMultilog: log/multilog, a multilog script run in-process.
	LogMultilog
)

func (k LoggerKind) String() string {
	switch k {
	case LogExternal:
		return "log/run"
	case LogMultilog:
		return "log/multilog"
	default:
		return "catch-all"
	}
}

// service is one running service directory and everything the scanner holds
// for it. Its fields are set by launch and revive under Scanner.mu, and
// released by stop and drain once it has left the table.
type service struct {
	name, dir string
	dev, ino  uint64
	log       LoggerKind

	// pipeR and pipeW are the pair's pipe (log/ present), held for the life
	// of the pair: the service's stdout is pipeW, the logger's stdin pipeR.
	pipeR, pipeW *os.File
	// pfx is the service's own catch-all pipe in Prefix mode: its stderr,
	// and its stdout when it has no log/.
	pfx *prefixer
	// out and errOut are the service's stdout and stderr; logOut the
	// external logger's stdout and stderr.
	out, errOut, logOut *os.File

	sv     *runner // the service's supervisor
	logSv  *runner // the external logger's supervisor
	inproc *inproc // the in-process logger
	logf   func(string, ...any)
}

// runner is a supervisor and the goroutine running it.
type runner struct {
	sv   *supervise.Supervisor
	done chan struct{} // Run returned
	err  error         // Run's error, valid after done
}

// finished reports whether the supervisor's Run returned.
func (r *runner) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// stop tells the supervisor to take its service down and exit (TERM and
// CONT, as svc -dx), sends KILL after kill, and waits for Run to return.
func (r *runner) stop(kill time.Duration) {
	if r == nil || r.finished() {
		return
	}
	r.sv.Control('d')
	r.sv.Control('x')
	t := time.NewTimer(kill)
	defer t.Stop()
	select {
	case <-r.done:
		return
	case <-t.C:
	}
	r.sv.Control('k')
	<-r.done
}

// runProcessor runs a multilog processor (!command) of an in-process logger
// through the reaper, which owns wait4 in this process.
func (s *Scanner) runProcessor(p logd.Processor) (syscall.WaitStatus, error) {
	c, err := s.cfg.Reaper.Spawn(reaper.Cmd{Path: p.Path, Args: p.Args, Dir: p.Dir, Env: p.Env, Files: p.Files})
	if err != nil {
		return 0, err
	}
	return c.Wait().WaitStatus, nil
}

// superviseDir starts a supervisor on dir.
func (s *Scanner) superviseDir(dir string, stdin, stdout, stderr *os.File) (*runner, error) {
	sv, err := supervise.New(supervise.Config{
		Dir:       dir,
		Reaper:    s.cfg.Reaper,
		Stdin:     stdin,
		Stdout:    stdout,
		Stderr:    stderr,
		Env:       s.cfg.Env,
		Logf:      (&quietLog{logf: s.logf}).printf,
		KillAfter: s.cfg.KillAfter,
		Notify:    s.notify,
	})
	if err != nil {
		return nil, err
	}
	r := &runner{sv: sv, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = guard(s.logf, "supervise "+dir, func() error { return sv.Run(context.Background()) })
	}()
	return r, nil
}

// inproc is an in-process multilog reading a service's pipe.
type inproc struct {
	l    *logd.Logger
	done chan struct{}
	err  error
}

func (l *inproc) finished() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// startInproc starts the multilog of log/multilog on svc's pipe.
func (s *Scanner) startInproc(svc *service) (*inproc, error) {
	logDir := filepath.Join(svc.dir, "log")
	words, err := readScript(logDir)
	if err != nil {
		return nil, err
	}
	script, err := logd.ParseScript(words)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(logDir, "multilog"), err)
	}
	l, err := logd.New(script, logd.Options{
		Stderr:       s.ca,
		Name:         "multilog " + logDir,
		Dir:          logDir,
		RunProcessor: s.runProcessor,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(logDir, "multilog"), err)
	}
	lg := &inproc{l: l, done: make(chan struct{})}
	go func() {
		defer close(lg.done)
		lg.err = guard(s.logf, "multilog "+logDir, func() error { return l.Run(svc.pipeR) })
	}()
	return lg, nil
}

// launch starts svc: its pipe and logger first, then the service. On error,
// what was started stays in svc for stop and drain to release.
func (s *Scanner) launch(svc *service) error {
	svc.logf = s.logf
	svc.out, svc.errOut = s.ca.stdout, s.ca.stderr
	svc.logOut = s.ca.stderr
	if s.ca.prefix {
		// Its stderr, and its stdout when it has no logger.
		p, err := newPrefixer(svc.name, s.ca)
		if err != nil {
			return err
		}
		svc.pfx = p
		svc.out, svc.errOut = p.w, p.w
	}
	switch svc.log {
	case LogNone:
	default:
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("log pipe: %w", err)
		}
		svc.pipeR, svc.pipeW = r, w
		svc.out = w
		if svc.log == LogExternal {
			if svc.logSv, err = s.superviseDir(filepath.Join(svc.dir, "log"), r, svc.logOut, svc.logOut); err != nil {
				return err
			}
		} else if svc.inproc, err = s.startInproc(svc); err != nil {
			return err
		}
	}
	var err error
	svc.sv, err = s.superviseDir(svc.dir, nil, svc.out, svc.errOut)
	return err
}

// revive starts again the supervisors and loggers of svc that returned on
// their own (svc -x, or an in-process logger that failed). The caller holds
// s.mu.
func (s *Scanner) revive(svc *service) {
	var problems []string
	if svc.logSv != nil && svc.logSv.finished() {
		r, err := s.superviseDir(filepath.Join(svc.dir, "log"), svc.pipeR, svc.logOut, svc.logOut)
		if err != nil {
			problems = append(problems, err.Error())
		} else {
			svc.logSv = r
		}
	}
	if svc.inproc != nil && svc.inproc.finished() {
		s.logf("warning: %s: in-process logger stopped: %v: starting it again", svc.dir, svc.inproc.err)
		lg, err := s.startInproc(svc)
		if err != nil {
			problems = append(problems, err.Error())
		} else {
			svc.inproc = lg
		}
	}
	if svc.sv != nil && svc.sv.finished() {
		r, err := s.superviseDir(svc.dir, nil, svc.out, svc.errOut)
		if err != nil {
			problems = append(problems, err.Error())
		} else {
			svc.sv = r
		}
	}
	old := s.problems[svc.name]
	p := strings.Join(problems, "; ")
	if p != old {
		if p == "" {
			delete(s.problems, svc.name)
		} else {
			s.problems[svc.name] = p
			s.logf("warning: %s: %s", svc.dir, p)
		}
	}
}

// stop stops the service (not its logger) and waits for its supervisor.
func (svc *service) stop(kill time.Duration) {
	if svc.sv != nil {
		svc.sv.stop(kill)
	}
}

// drain closes the scanner's write end of the service's pipe, lets the
// logger read to the end and stop, and closes everything left. The service
// must be stopped already.
func (svc *service) drain(timeout time.Duration) {
	if svc.pfx != nil {
		svc.pfx.close(timeout)
	}
	if svc.pipeW != nil {
		svc.pipeW.Close()
	}
	if lg := svc.inproc; lg != nil {
		// EOF comes at once, unless a process that outlived the
		// service holds the pipe: then the logger takes what is ready
		// and stops when the timeout expires.
		t := time.NewTimer(timeout)
		select {
		case <-lg.done:
		case <-t.C:
			svc.logf("warning: %s: log pipe still open %v after the service stopped: draining what is there", svc.dir, timeout)
			lg.l.Drain()
			<-lg.done
		}
		t.Stop()
		if lg.err != nil {
			svc.logf("warning: %s: in-process logger: %v", svc.dir, lg.err)
		}
	}
	if r := svc.logSv; r != nil && !r.finished() {
		// Once: the logger is not restarted when it exits at EOF (and is
		// started if it was down); exit: the supervisor returns then.
		r.sv.Control('o')
		r.sv.Control('x')
		t := time.NewTimer(timeout)
		select {
		case <-r.done:
		case <-t.C:
			svc.logf("warning: %s: logger did not finish within %v: stopping it", svc.dir, timeout)
			r.stop(timeout)
		}
		t.Stop()
	}
	if svc.pipeR != nil {
		svc.pipeR.Close()
	}
}

// checkService says whether the service directory dir is complete and how
// it is logged; problem says what is missing.
func checkService(dir string) (kind LoggerKind, problem string) {
	if p := checkExec(dir, "run"); p != "" {
		return LogNone, p
	}
	if _, err := os.Stat(filepath.Join(dir, "log")); errors.Is(err, fs.ErrNotExist) {
		return LogNone, ""
	}
	return checkLog(dir)
}

// checkLog says whether dir/log is a complete logger: an executable log/run,
// or a log/multilog script naming at least one log directory.
func checkLog(dir string) (LoggerKind, string) {
	logDir := filepath.Join(dir, "log")
	fi, err := os.Stat(logDir)
	if err != nil {
		return LogNone, err.Error()
	}
	if !fi.IsDir() {
		return LogNone, "log is not a directory"
	}
	if _, err := os.Stat(filepath.Join(logDir, "run")); err == nil || !errors.Is(err, fs.ErrNotExist) {
		if p := checkExec(dir, "log/run"); p != "" {
			return LogNone, p
		}
		return LogExternal, ""
	}
	words, err := readScript(logDir)
	if errors.Is(err, fs.ErrNotExist) {
		return LogNone, "log/ has neither run nor multilog"
	}
	if err != nil {
		return LogNone, err.Error()
	}
	if _, err := logd.ParseScript(words); err != nil {
		return LogNone, fmt.Sprintf("log/multilog: %v", err)
	}
	return LogMultilog, ""
}

// checkExec says what is wrong with dir/name as a program to run: missing,
// not a regular file, not executable; "" when nothing is.
func checkExec(dir, name string) string {
	fi, err := os.Stat(filepath.Join(dir, name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no " + name
	case err != nil:
		return err.Error()
	case !fi.Mode().IsRegular():
		return name + " is not a regular file"
	case fi.Mode()&0o111 == 0:
		return name + " is not executable"
	}
	return ""
}

// readScript reads logDir/multilog: multilog's arguments, separated by white
// space, lines starting with # ignored. (Relative paths in them are relative
// to logDir: the logger is created with logd.Options.Dir = logDir.) A script
// must name at least one log directory, so that a file still being written is
// not taken for a complete one.
func readScript(logDir string) ([]string, error) {
	path := filepath.Join(logDir, "multilog")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var words []string
	hasDir := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, w := range strings.Fields(line) {
			if w[0] == '.' || w[0] == '/' {
				hasDir = true
			}
			words = append(words, w)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !hasDir {
		return nil, fmt.Errorf("%s: no log directory (a word starting with . or /)", path)
	}
	return words, nil
}
