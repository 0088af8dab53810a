package svscan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ichi-init/ichi/internal/reaper"
	"github.com/ichi-init/ichi/internal/supervise"
)

// Defaults for the durations of Config.
const (
	DefaultRescanInterval = 5 * time.Second
	DefaultKillAfter      = 10 * time.Second
	DefaultDrainTimeout   = 5 * time.Second
)

// Config configures a Scanner.
type Config struct {
	// Dir is the scan directory; empty means /service.
	Dir string
	// Reaper starts and reaps every process (required).
	Reaper *reaper.Reaper
	// CatchAll says where unlogged output and messages go.
	CatchAll CatchAll
	// Logf receives the scanner's and the supervisors' messages. Nil:
	// they are written to the catch-all as "svscan: ..." lines.
	Logf func(format string, args ...any)
	// Env is the base environment of ./run (supervise applies env/).
	Env []string
	// RescanInterval is how often the whole directory is scanned again,
	// as a fallback to inotify; 0 means DefaultRescanInterval, a negative
	// value turns the periodic rescan off.
	RescanInterval time.Duration
	// KillAfter is how long a service stopped by Run's shutdown or by its
	// removal may take after TERM before it gets KILL; 0 means
	// DefaultKillAfter.
	KillAfter time.Duration
	// DrainTimeout bounds how long a logger may read its pipe once its
	// service is down. EOF comes at once unless a process that outlived
	// the service still holds the pipe; then the logger is stopped when
	// the timeout expires. 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
}

// Scanner supervises the services of one scan directory. Create it with New
// and run it with Run.
type Scanner struct {
	cfg   Config
	dir   string
	ca    *catchAll
	logf  func(format string, args ...any)
	notes *notes

	rescan chan struct{}
	ran    chan struct{} // closed when Run starts: Run runs once

	mu        sync.Mutex
	services  map[string]*service // running (or partly running) services
	releasing map[string]struct{} // names whose old service is being released
	problems  map[string]string   // the last problem reported per name ("." for the directory)
	watched   map[string][]string // paths watched for incomplete services
	stopping  bool                // StopServices began: nothing is started any more
	watch     *watcher            // nil when inotify is unavailable

	// notify is the NOTIFY_SOCKET of every service, set by Run before the
	// first scan; nil when it could not be bound (each supervisor then
	// binds its own).
	notify *supervise.NotifyHub

	releases  sync.WaitGroup // goroutines releasing services
	drainOnce sync.Once
}

// New checks cfg and starts the catch-all. Nothing is scanned before Run.
func New(cfg Config) (*Scanner, error) {
	if cfg.Reaper == nil {
		return nil, errors.New("svscan: no reaper")
	}
	if cfg.Dir == "" {
		cfg.Dir = "/service"
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("svscan %s: %w", cfg.Dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("svscan: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("svscan: %s is not a directory", dir)
	}
	if cfg.RescanInterval == 0 {
		cfg.RescanInterval = DefaultRescanInterval
	}
	if cfg.KillAfter <= 0 {
		cfg.KillAfter = DefaultKillAfter
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	s := &Scanner{
		cfg:       cfg,
		dir:       dir,
		notes:     newNotes(),
		rescan:    make(chan struct{}, 1),
		ran:       make(chan struct{}),
		services:  make(map[string]*service),
		releasing: make(map[string]struct{}),
		problems:  make(map[string]string),
		watched:   make(map[string][]string),
	}
	ca, err := newCatchAll(cfg.CatchAll, s.runProcessor)
	if err != nil {
		return nil, fmt.Errorf("svscan %s: %w", dir, err)
	}
	s.ca = ca
	s.logf = cfg.Logf
	if s.logf == nil {
		s.logf = func(format string, args ...any) {
			fmt.Fprintf(s.ca, "svscan: "+format+"\n", args...)
		}
	}
	return s, nil
}

// Dir returns the absolute path of the scan directory.
func (s *Scanner) Dir() string { return s.dir }

// CatchAll returns a writer into the catch-all, for init's own messages.
// Each Write of at most 4096 bytes reaches the catch-all whole, never mixed
// with other writers' lines. It never fails; after DrainLoggers it writes to
// the console directly.
func (s *Scanner) CatchAll() io.Writer { return s.ca }

// Rescan asks Run for a full rescan of the directory now.
func (s *Scanner) Rescan() {
	select {
	case s.rescan <- struct{}{}:
	default:
	}
}

// Run scans the directory, starts its services, and follows its changes
// until ctx is cancelled; it then stops every service, drains every logger
// (StopServices, DrainLoggers) and returns. It fails at once when another
// scanner holds the directory.
func (s *Scanner) Run(ctx context.Context) error {
	select {
	case <-s.ran:
		return fmt.Errorf("svscan %s: Run called twice", s.dir)
	default:
		close(s.ran)
	}
	ctl, err := openControl(s.dir, s.Rescan)
	if err != nil {
		s.ca.close(s.cfg.DrainTimeout)
		return err
	}
	defer ctl.close()
	if ctl.warning != "" {
		s.logf("%s", ctl.warning)
	}
	s.notify = s.openNotify(ctl.lock != nil)
	if s.notify != nil {
		// After DrainLoggers: no supervisor is left to use it.
		defer s.notify.Close()
	}
	if w, err := newWatcher(s.notes); err != nil {
		s.logf("warning: %s: %v: new services are noticed at the rescans only", s.dir, err)
	} else if err := w.add(s.dir, ""); err != nil {
		w.close()
		s.logf("warning: %v: new services are noticed at the rescans only", err)
	} else {
		s.mu.Lock()
		s.watch = w
		s.mu.Unlock()
	}
	s.scanAll()
	var tick <-chan time.Time
	if s.cfg.RescanInterval > 0 {
		t := time.NewTicker(s.cfg.RescanInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			s.StopServices(s.cfg.KillAfter)
			s.DrainLoggers()
			s.mu.Lock()
			w := s.watch
			s.watch = nil
			s.mu.Unlock()
			if w != nil {
				w.close()
			}
			return nil
		case <-s.notes.kick:
			names, all := s.notes.take()
			if all {
				s.scanAll()
				continue
			}
			for _, name := range names {
				s.mu.Lock()
				s.reconcile(name, false)
				s.mu.Unlock()
			}
		case <-tick:
			s.scanAll()
		case <-s.rescan:
			s.scanAll()
		}
	}
}

// scanAll looks at every entry of the directory, and at every service whose
// entry is gone.
func (s *Scanner) scanAll() {
	entries, err := os.ReadDir(s.dir)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.report(".", fmt.Sprintf("unable to read %s: %v", s.dir, err))
		return
	}
	s.report(".", "")
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		seen[name] = true
		s.reconcile(name, true)
	}
	for name := range s.services {
		if !seen[name] {
			s.reconcile(name, true)
		}
	}
	for name := range s.problems {
		if !seen[name] && name != "." {
			s.reconcile(name, true)
		}
	}
}

// report records problem as the state of name and logs it when it changed:
// a broken directory is reported once, not at every rescan. An empty
// problem clears it.
func (s *Scanner) report(name, problem string) {
	old, had := s.problems[name]
	switch {
	case problem == "" && had:
		delete(s.problems, name)
	case problem != "" && problem != old:
		s.problems[name] = problem
		if name == "." {
			s.logf("warning: %s", problem)
		} else {
			s.logf("warning: %s: not started: %s", filepath.Join(s.dir, name), problem)
		}
	}
}

// reconcile brings the service called name in line with its directory. full
// is set during full rescans: only then are supervisors that exited on their
// own started again, and a log/ added to a running service noticed. The
// caller holds s.mu.
func (s *Scanner) reconcile(name string, full bool) {
	if name == "" || strings.HasPrefix(name, ".") || strings.ContainsRune(name, '/') {
		return
	}
	path := filepath.Join(s.dir, name)
	fi, err := os.Stat(path)
	svc := s.services[name]
	if err != nil || !fi.IsDir() {
		if svc != nil {
			s.release(svc, "removed")
		}
		s.unwatch(name)
		switch {
		case err == nil:
			delete(s.problems, name) // a file in the scan directory: not a service
		case errors.Is(err, fs.ErrNotExist):
			if _, lerr := os.Lstat(path); lerr == nil {
				s.report(name, "dangling symbolic link")
			} else {
				delete(s.problems, name)
			}
		default:
			s.report(name, err.Error())
		}
		return
	}
	if _, busy := s.releasing[name]; busy {
		return // marked again when the old one is released
	}
	st := fi.Sys().(*syscall.Stat_t)
	dev, ino := uint64(st.Dev), uint64(st.Ino)
	if svc != nil {
		if svc.dev != dev || svc.ino != ino {
			s.release(svc, "replaced by another directory")
			return
		}
		if svc.log == LogNone && (full || len(s.watched[name]) > 0) {
			s.checkNewLog(svc)
		}
		if full && !s.stopping {
			s.revive(svc)
		}
		return
	}
	if s.stopping {
		return
	}
	s.start(name, path, dev, ino)
}

// checkNewLog looks for a log/ that appeared after svc started without one.
// A complete one makes the service restart with it; an incomplete one is
// watched.
func (s *Scanner) checkNewLog(svc *service) {
	if _, err := os.Stat(filepath.Join(svc.dir, "log")); err != nil {
		if len(s.watched[svc.name]) > 0 {
			s.unwatch(svc.name)
			s.report(svc.name, "")
		}
		return
	}
	kind, problem := checkLog(svc.dir)
	if problem != "" {
		s.watchDir(svc.name, svc.dir)
		old := s.problems[svc.name]
		if problem != old {
			s.problems[svc.name] = problem
			s.logf("warning: %s: log/ not used yet: %s", svc.dir, problem)
		}
		return
	}
	s.unwatch(svc.name)
	delete(s.problems, svc.name)
	s.logf("%s: log/ appeared (%s): restarting the service with its logger", svc.dir, kind)
	s.release(svc, "restarted with its new logger")
}

// watchDir watches a service directory that is not complete, and its log/.
func (s *Scanner) watchDir(name, dir string) {
	if s.watch == nil {
		return
	}
	paths := []string{dir}
	if fi, err := os.Stat(filepath.Join(dir, "log")); err == nil && fi.IsDir() {
		paths = append(paths, filepath.Join(dir, "log"))
	}
	for _, p := range paths {
		if slices.Contains(s.watched[name], p) {
			continue
		}
		if err := s.watch.add(p, name); err != nil {
			s.logf("warning: %v: %s is looked at again at the rescans only", err, dir)
			continue
		}
		s.watched[name] = append(s.watched[name], p)
	}
}

// unwatch drops the watches held for name.
func (s *Scanner) unwatch(name string) {
	paths := s.watched[name]
	if len(paths) == 0 {
		return
	}
	delete(s.watched, name)
	if s.watch == nil {
		return
	}
	for _, p := range paths {
		s.watch.remove(p)
	}
}

// start starts the service in path if its directory is complete, or
// reports and watches it. The caller holds s.mu.
func (s *Scanner) start(name, path string, dev, ino uint64) {
	kind, problem := checkService(path)
	if problem != "" {
		s.report(name, problem)
		s.watchDir(name, path)
		return
	}
	s.unwatch(name)
	svc := &service{name: name, dir: path, dev: dev, ino: ino, log: kind}
	if err := s.launch(svc); err != nil {
		s.report(name, err.Error())
		// What started is stopped again; the next full rescan retries.
		s.releases.Add(1)
		s.releasing[name] = struct{}{}
		go s.finishRelease(svc, false)
		return
	}
	s.report(name, "")
	s.services[name] = svc
}

// release stops svc and frees everything it holds, in the background: the
// service first, then its logger once it has drained the pipe. When it is
// done, name is looked at again, so that a directory that is still (or
// again) there starts anew. The caller holds s.mu.
func (s *Scanner) release(svc *service, why string) {
	delete(s.services, svc.name)
	s.unwatch(svc.name)
	s.releasing[svc.name] = struct{}{}
	s.releases.Add(1)
	if why != "" {
		s.logf("%s: %s: stopping", svc.dir, why)
	}
	go s.finishRelease(svc, true)
}

func (s *Scanner) finishRelease(svc *service, look bool) {
	defer s.releases.Done()
	svc.stop(s.cfg.KillAfter)
	svc.drain(s.cfg.DrainTimeout)
	s.mu.Lock()
	delete(s.releasing, svc.name)
	s.mu.Unlock()
	if look {
		s.notes.mark(svc.name)
	}
}

// StopServices is step one of a shutdown: nothing is started any more, every
// service (not its logger) is sent TERM and CONT and told to exit once down,
// and any still running after kill gets KILL. It returns when every
// service's supervisor has returned. Calling it again is harmless.
func (s *Scanner) StopServices(kill time.Duration) {
	s.mu.Lock()
	s.stopping = true
	list := make([]*service, 0, len(s.services))
	for _, svc := range s.services {
		list = append(list, svc)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, svc := range list {
		wg.Go(func() { svc.stop(kill) })
	}
	wg.Wait()
}

// DrainLoggers is step two of a shutdown: every service still running is
// stopped first (as by StopServices with Config.KillAfter), then each logger
// reads its pipe to the end, writes and syncs what it read, and stops;
// services being removed finish the same way; the catch-all is closed last.
// Afterwards the scanner holds no service, pipe or goroutine, and Run
// returns when its context is cancelled. Calling it again is harmless.
func (s *Scanner) DrainLoggers() {
	s.drainOnce.Do(func() {
		s.mu.Lock()
		s.stopping = true
		list := make([]*service, 0, len(s.services))
		for name, svc := range s.services {
			list = append(list, svc)
			delete(s.services, name)
		}
		for name := range s.watched {
			s.unwatch(name)
		}
		s.mu.Unlock()
		var wg sync.WaitGroup
		for _, svc := range list {
			wg.Go(func() {
				svc.stop(s.cfg.KillAfter)
				svc.drain(s.cfg.DrainTimeout)
			})
		}
		wg.Wait()
		s.releases.Wait()
		if err := s.ca.close(s.cfg.DrainTimeout); err != nil {
			fmt.Fprintf(s.ca.console, "svscan: warning: catch-all log: %v\n", err)
		}
	})
}

// Status is a snapshot of one entry of the scan directory.
type Status struct {
	// Name is the entry's name in the scan directory; Dir its path.
	Name, Dir string
	// Problem says why the service is not (fully) running: an incomplete
	// directory, a supervisor that could not start. Empty when fine.
	Problem string
	// Service is the state of the service's supervisor; nil when none runs.
	Service *supervise.State
	// Logger says how the service is logged.
	Logger LoggerKind
	// Log is the state of an external logger's supervisor (Logger ==
	// LogExternal); nil otherwise or when none runs.
	Log *supervise.State
}

// Statuses returns a snapshot of every service and every broken entry,
// sorted by name.
func (s *Scanner) Statuses() []Status {
	s.mu.Lock()
	list := make([]Status, 0, len(s.services)+len(s.problems))
	for name, svc := range s.services {
		st := Status{Name: name, Dir: svc.dir, Logger: svc.log, Problem: s.problems[name]}
		if r := svc.sv; r != nil && !r.finished() {
			v := r.sv.State()
			st.Service = &v
		}
		if r := svc.logSv; r != nil && !r.finished() {
			v := r.sv.State()
			st.Log = &v
		}
		list = append(list, st)
	}
	for name, p := range s.problems {
		if _, ok := s.services[name]; ok || name == "." {
			continue
		}
		list = append(list, Status{Name: name, Dir: filepath.Join(s.dir, name), Problem: p})
	}
	s.mu.Unlock()
	slices.SortFunc(list, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return list
}
