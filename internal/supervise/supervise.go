// Package supervise runs one service directory the way daemontools'
// supervise and runit's runsv do: it starts ./run, restarts it when it exits
// (at most once a second), runs ./finish in between, obeys the commands of
// svc and sv on the control FIFO, and publishes its state in files that
// daemontools' svstat, svok and svc and runit's sv read.
//
// A Supervisor is a goroutine's worth of state, not a process: init runs one
// per service in-process, and the standalone supervise tool runs one. Its
// processes are started only through the reaper, which owns wait4.
//
// # Files
//
// In the service directory DIR it reads run, finish, down, env/ (read as
// daemontools' envdir reads a directory, by chainload.ReadEnvDir, and
// applied to the environment of ./run and ./finish at each start) and
// notification-fd. It creates DIR/supervise (mode 0700; a symlink to a
// missing directory is followed and the directory created, as runsv does)
// holding:
//
//	control   FIFO (0600): one byte per command, see Control
//	ok        a hard link to control: svok and sv open it for writing, which
//	          succeeds while a supervisor has it open
//	lock      a hard link to control, flock()ed for the supervisor's life: a
//	          second supervisor fails; removed when the supervisor ends
//	status    20 bytes, runit's layout whose first 18 are daemontools'
//	stat      runit's text state: "run", "down" or "finish", then ", paused",
//	          ", got TERM", ", want down" or ", want exit"
//	pid       runit's: the pid of ./run or ./finish and a newline, or empty
//	ready     ichi's: the TAI64N label of the moment ./run reported ready,
//	          removed when ./run exits
//	ichi      ichi's history: "restarts=N", and once ./run has ended,
//	          " exit=CODE" or " signal=NUMBER" for how it last ended;
//	          rewritten when ./run exits (before ./finish starts) and
//	          when it restarts
//	notify    the systemd-style notification socket (see below), unless
//	          Config.Notify gives a shared one
//
// Package svstatus defines and writes the formats of status, stat, pid,
// ready and ichi; every file is replaced atomically at each change.
//
// # One descriptor
//
// daemontools and runit keep three descriptors open in DIR/supervise: lock
// (a regular file, flock()ed), control (a FIFO they read) and ok (a FIFO
// they hold open for reading so that svok's open for writing succeeds). ichi
// makes the three names one FIFO: control is created with mkfifo, ok and
// lock are hard links to it, and the supervisor opens it once, reads the
// commands from it and takes its flock on that same descriptor. The clients
// see what they expect: svc writes to control, svok and sv open ok for
// writing, which succeeds while the supervisor has it open, and a second
// supervisor, ichi's, daemontools' or runit's, opens lock and fails to flock
// it ("unable to acquire DIR/supervise/lock: temporary failure").
//
// A directory that daemontools or runit supervised before has a regular lock
// file and two FIFOs. ichi takes the flock on that lock file first, so that
// it fails as before while their supervisor runs; then it opens and locks
// control, replaces ok and lock atomically by hard links to control
// (link to a temporary name, rename over the old file), and closes the old
// lock file last: a supervisor starting meanwhile finds one lock or the
// other held.
//
// When ichi's supervisor ends, it removes the lock link before closing its
// descriptor: daemontools and runit open lock with O_NONBLOCK, which fails
// with ENXIO on a FIFO that nobody reads, so they start on the directory
// only once lock is gone (they create a regular file again). A supervisor
// killed with SIGKILL leaves the link behind: ichi's next supervisor starts
// there as usual, but daemontools' and runit's fail ("unable to acquire
// DIR/supervise/lock: device not configured") until supervise/lock is
// removed by hand.
//
// With a shared Config.Notify, a supervisor therefore costs one descriptor,
// plus the reaper's pidfd for the process it runs and, until ./run reports
// readiness, the notification-fd pipe.
//
// # Lifecycle
//
// ./run is started unless DIR/down exists. When it exits and DIR/finish
// exists, "./finish EXITCODE SIGNAL" runs first, with runit's arguments:
// the exit code and 0, or -1 and the low byte of the wait status (the signal
// number, with 128 added when a core was dumped) when ./run was killed. A
// ./run that cannot be started (missing, not executable, or its env/
// unreadable) is reported through Config.Logf and counts as an exit with
// code 111 and status 0, as in runit.
// Then, if the service is still wanted up, ./run starts again, but never
// sooner than one second after its previous start.
//
// ./run and ./finish get their own session (setsid), so a signal meant for
// the supervisor's terminal or process group does not reach the service.
//
// # Readiness
//
// Two conventions report that ./run is ready: s6's notification-fd (a pipe
// on the descriptor the file names; ./run writes a newline) and systemd's
// NOTIFY_SOCKET (a datagram "READY=1" from ./run or a process of its
// session; see NotifyHub). Readiness shows in State and in supervise/ready.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ichi-init/ichi/internal/reaper"
	"github.com/ichi-init/ichi/internal/svstatus"
)

// DefaultKillAfter is how long Shutdown waits after TERM before it sends KILL.
const DefaultKillAfter = 10 * time.Second

// Throttle is the shortest time between two starts of ./run.
const Throttle = time.Second

// Config describes one supervised service directory.
type Config struct {
	// Dir is the service directory (or the log/ subdirectory of one, for
	// an external logger). Messages name it as given.
	Dir string
	// Reaper starts and reaps ./run and ./finish. Required.
	Reaper *reaper.Reaper
	// Stdin, Stdout and Stderr become descriptors 0, 1 and 2 of ./run and
	// ./finish; nil means /dev/null.
	Stdin, Stdout, Stderr *os.File
	// Env is the base environment of ./run and ./finish; nil means the
	// supervisor's own (os.Environ()). DIR/env/ is applied on top of it.
	Env []string
	// Logf receives the supervisor's own messages (a service that cannot
	// start, a status file that cannot be written). nil discards them.
	Logf func(format string, args ...any)
	// KillAfter is how long Shutdown and a cancelled Run wait after TERM
	// before they send KILL. Zero means DefaultKillAfter.
	KillAfter time.Duration
	// Notify is the NOTIFY_SOCKET given to ./run: a hub shared with other
	// supervisors (a scanner binds one for all its services), which must
	// outlive the supervisor. nil: the supervisor binds its own at
	// DIR/supervise/notify.
	Notify *NotifyHub
}

// State is a snapshot of a supervisor.
type State struct {
	// Pid is the pid of ./run, or of ./finish while it runs; 0 when down.
	Pid int
	// Up is true while ./run is running.
	Up bool
	// Finishing is true while ./finish is running.
	Finishing bool
	// Since is when ./run last started, or when the service last went
	// down (the time supervise/status holds).
	Since time.Time
	// Want is 'u' (restart ./run when it exits), 'd' (keep it down) or
	// 'o' (once: started, not restarted).
	Want byte
	// Paused is true after svc -p until svc -c or the next start.
	Paused bool
	// Exiting is true after svc -x or Shutdown: the supervisor ends when
	// the service is down.
	Exiting bool
	// Ready is true once the running ./run reported readiness.
	Ready      bool
	ReadySince time.Time
	// Restarts counts the starts of ./run after the first.
	Restarts uint64
	// LastExit is how ./run last ended (zero before it first ended).
	LastExit reaper.Status
}

// Supervisor supervises one service directory. Create it with New, then call
// Run once.
type Supervisor struct {
	cfg        Config
	name       string // Dir as given, for messages
	dir        string // absolute
	sdir       string // dir/supervise
	baseEnv    []string
	killAfter  time.Duration
	control    *os.File // supervise/control, ok and lock: one FIFO
	locked     bool     // control is flock()ed: the directory is ours
	controlDev uint64
	controlIno uint64
	notify     *NotifyHub // nil: no NOTIFY_SOCKET readiness
	ownNotify  bool       // notify is the supervisor's own, closed with it

	// The notify hub's goroutine tells the loop through these: the
	// session of the last READY=1, then a kick.
	notifySession atomic.Int64
	notifyKick    chan struct{}

	cmds       chan byte
	readyCh    chan readyEvent
	shutdownCh chan struct{}
	shutdown   sync.Once
	quit       chan struct{} // closed when the loop ends: goroutines stop sending
	done       chan struct{} // closed when everything is released
	release1   sync.Once
	wg         sync.WaitGroup

	mu      sync.Mutex
	started bool
	snap    State

	// Owned by the loop (and by New before it).
	run, finish  *reaper.Child
	want         byte
	paused       bool
	gotTerm      bool
	exiting      bool
	stopping     bool // Shutdown or cancelled context: KILL after killAfter
	since        time.Time
	lastStart    time.Time
	gen          uint64 // starts of ./run so far
	restarts     uint64
	lastExit     reaper.Status
	exited       bool             // ./run has ended (or failed to start) at least once
	history      svstatus.History // what supervise/ichi holds
	historySaved bool             // supervise/ichi holds history
	ready        bool
	readySince   time.Time
	notifyPipe   *os.File
	unwatchRun   func() // ends the notify hub's watch of ./run
	throttle     *time.Timer
	killTimer    *time.Timer
	publishedPid int
}

var (
	devNullOnce sync.Once
	devNull     *os.File
	devNullErr  error
)

// null returns /dev/null, opened once for every supervisor of the process.
func null() (*os.File, error) {
	devNullOnce.Do(func() { devNull, devNullErr = os.OpenFile(os.DevNull, os.O_RDWR, 0) })
	return devNull, devNullErr
}

// New prepares the service directory: it creates DIR/supervise, takes its
// lock, creates the control and ok FIFOs and the notification socket, and
// writes the status files. It starts nothing; Run does.
func New(cfg Config) (*Supervisor, error) {
	if cfg.Reaper == nil {
		return nil, errors.New("supervise: Config.Reaper is nil")
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("unable to chdir to %s: %w", cfg.Dir, err)
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("unable to chdir to %s: %w", cfg.Dir, unwrapPath(err))
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("unable to chdir to %s: %w", cfg.Dir, syscall.ENOTDIR)
	}
	s := &Supervisor{
		cfg:        cfg,
		name:       cfg.Dir,
		dir:        abs,
		sdir:       filepath.Join(abs, "supervise"),
		baseEnv:    cfg.Env,
		killAfter:  cfg.KillAfter,
		notifyKick: make(chan struct{}, 1),
		cmds:       make(chan byte, 32),
		readyCh:    make(chan readyEvent),
		shutdownCh: make(chan struct{}),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
		want:       'u',
	}
	if s.baseEnv == nil {
		s.baseEnv = os.Environ()
	}
	if s.killAfter <= 0 {
		s.killAfter = DefaultKillAfter
	}
	if _, err := os.Stat(filepath.Join(abs, "down")); err == nil {
		s.want = 'd'
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("unable to stat %s/down: %w", cfg.Dir, unwrapPath(err))
	}
	if err := s.open(); err != nil {
		s.closeFiles()
		return nil, err
	}
	s.since = time.Now()
	s.publish()
	return s, nil
}

// open creates and opens the files of DIR/supervise.
func (s *Supervisor) open() error {
	if err := makeSuperviseDir(s.sdir); err != nil {
		return fmt.Errorf("unable to create %s/supervise: %w", s.name, err)
	}
	if err := s.acquire(); err != nil {
		return err
	}
	// A readiness file left by an earlier supervisor does not describe a
	// run of this one.
	if err := svstatus.RemoveReady(s.dir); err != nil {
		return fmt.Errorf("unable to remove %s/supervise/ready: %w", s.name, unwrapPath(err))
	}
	if s.cfg.Notify != nil {
		s.notify = s.cfg.Notify
		return nil
	}
	h, err := NewNotifyHub(NotifyAddr(filepath.Join(s.sdir, "notify")))
	if err != nil {
		s.logf("%s: no NOTIFY_SOCKET readiness: %v", s.name, err)
		return nil
	}
	s.notify, s.ownNotify = h, true
	return nil
}

// ErrLocked is the cause of New's error when another supervisor holds the
// lock; its text is daemontools' word for EWOULDBLOCK.
var ErrLocked = errors.New("temporary failure")

// makeSuperviseDir creates dir with mode 0700. When dir is a symlink to a
// directory that does not exist yet, it creates the target, as runsv does
// for supervise directories kept on a tmpfs.
func makeSuperviseDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if err == nil || !errors.Is(err, os.ErrExist) {
		return unwrapPath(err)
	}
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return syscall.ENOTDIR
		}
		return nil
	}
	target, lerr := os.Readlink(dir)
	if lerr != nil {
		return unwrapPath(err)
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(dir), target)
	}
	return unwrapPath(os.Mkdir(target, 0o700))
}

// unwrapPath strips the *PathError around an errno: messages name the file
// themselves.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (s *Supervisor) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// closeFiles closes what open opened; the lock goes last.
func (s *Supervisor) closeFiles() {
	s.stopWatchingRun()
	if s.ownNotify {
		if err := s.notify.Close(); err != nil {
			s.logf("%s: %v", s.name, err)
		}
	}
	s.release()
}

// State returns a snapshot of the supervisor.
func (s *Supervisor) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

// Done is closed when the supervisor has ended and released its files.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Control gives the supervisor a command, as a byte written to
// supervise/control does. The commands are daemontools' and runit's:
//
//	u  up: start ./run if it is not running; restart it when it exits
//	d  down: send TERM then CONT to ./run; do not restart it
//	o  once: start ./run if it is not running; do not restart it
//	x  exit: end the supervisor as soon as the service is down (it does
//	   not stop the service: use "dx", or Shutdown)
//	p  pause: send STOP;  c  continue: send CONT
//	h  HUP, a  ALRM, i  INT, t  TERM, k  KILL, q  QUIT, 1  USR1, 2  USR2
//
// Signals go to ./run only, and only while it runs, except k, which also
// kills a running ./finish (daemontools has no ./finish, and runit offers no
// way to stop one that hangs). Unknown bytes are ignored. Control does not
// wait for the command to take effect.
func (s *Supervisor) Control(cmd byte) {
	select {
	case s.cmds <- cmd:
	case <-s.quit:
	}
}

// Shutdown stops the service as "svc -dx" does, sends KILL to whatever
// still runs after Config.KillAfter, and returns when Run has returned (at
// once when Run was never called).
func (s *Supervisor) Shutdown() {
	s.mu.Lock()
	if !s.started {
		s.started = true
		s.mu.Unlock()
		s.releaseAll()
		return
	}
	s.mu.Unlock()
	s.shutdown.Do(func() { close(s.shutdownCh) })
	<-s.done
}

// Run supervises the service until it is told to exit (svc -x, Shutdown)
// and the service is down, or until ctx is cancelled, which stops the
// service as Shutdown does. It returns nil after an orderly end; it may be
// called once.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return fmt.Errorf("supervise %s: Run called twice or after Shutdown", s.name)
	}
	s.started = true
	s.mu.Unlock()
	defer s.releaseAll()

	s.wg.Add(1)
	go s.readControl()
	if s.want != 'd' {
		s.startRun()
	}
	ctxDone := ctx.Done()
	shutdownCh := s.shutdownCh
	for {
		if s.exiting && s.run == nil && s.finish == nil {
			return nil
		}
		var childDone <-chan struct{}
		switch {
		case s.run != nil:
			childDone = s.run.Done()
		case s.finish != nil:
			childDone = s.finish.Done()
		}
		var throttleC, killC <-chan time.Time
		if s.throttle != nil {
			throttleC = s.throttle.C
		}
		if s.killTimer != nil {
			killC = s.killTimer.C
		}
		select {
		case <-ctxDone:
			ctxDone = nil
			s.stop()
		case <-shutdownCh:
			shutdownCh = nil
			s.stop()
		case b := <-s.cmds:
			s.command(b)
		case <-childDone:
			s.childExited()
		case <-throttleC:
			s.throttle = nil
			if s.want != 'd' && !s.exiting {
				s.startRun()
			}
		case <-killC:
			s.killTimer = nil
			s.signalAny(syscall.SIGKILL)
		case ev := <-s.readyCh:
			s.readiness(ev)
		case <-s.notifyKick:
			s.readiness(readyEvent{session: int(s.notifySession.Load())})
		}
	}
}

// releaseAll stops the reader goroutines, waits for them, and closes every
// file; then Done is closed.
func (s *Supervisor) releaseAll() {
	s.release1.Do(func() {
		close(s.quit)
		s.closeNotifyPipe()
		s.closeFiles() // interrupts the readers' pending reads
		s.wg.Wait()
		if s.throttle != nil {
			s.throttle.Stop()
			s.throttle = nil
		}
		if s.killTimer != nil {
			s.killTimer.Stop()
			s.killTimer = nil
		}
		close(s.done)
	})
}

// readControl passes each byte written to supervise/control to the loop.
func (s *Supervisor) readControl() {
	defer s.wg.Done()
	var buf [32]byte
	for {
		n, err := s.control.Read(buf[:])
		for _, b := range buf[:n] {
			select {
			case s.cmds <- b:
			case <-s.quit:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// command carries out one control byte.
func (s *Supervisor) command(b byte) {
	switch b {
	case 'u', 'o':
		if s.stopping {
			return // Shutdown wins over a late "up"
		}
		s.want = b
		s.publish()
		if s.run == nil && s.finish == nil && s.throttle == nil {
			s.startRun()
		}
	case 'd':
		s.wantDown()
		s.publish()
	case 'x':
		s.exiting = true
		s.publish()
	case 'p':
		s.paused = true
		s.signalRun(syscall.SIGSTOP)
		s.publish()
	case 'c':
		s.paused = false
		s.signalRun(syscall.SIGCONT)
		s.publish()
	case 't':
		if s.run != nil {
			s.run.Signal(syscall.SIGTERM)
			s.gotTerm = true
			s.publish()
		}
	case 'k':
		// KILL also ends a ./finish that hangs: nothing else can.
		s.signalAny(syscall.SIGKILL)
	case 'h':
		s.signalRun(syscall.SIGHUP)
	case 'a':
		s.signalRun(syscall.SIGALRM)
	case 'i':
		s.signalRun(syscall.SIGINT)
	case 'q':
		s.signalRun(syscall.SIGQUIT)
	case '1':
		s.signalRun(syscall.SIGUSR1)
	case '2':
		s.signalRun(syscall.SIGUSR2)
	}
}

// wantDown is "svc -d": ./run is not restarted, and is sent TERM and CONT.
func (s *Supervisor) wantDown() {
	s.want = 'd'
	s.cancelThrottle()
	if s.run != nil {
		s.run.Signal(syscall.SIGTERM)
		s.run.Signal(syscall.SIGCONT)
		s.gotTerm = true
		s.paused = false
	}
}

// stop begins Shutdown: down, exit, TERM and CONT now, KILL after killAfter.
func (s *Supervisor) stop() {
	s.stopping = true
	s.exiting = true
	s.wantDown()
	s.armKill()
	s.publish()
}

// armKill starts the KILL deadline while stopping and something runs.
func (s *Supervisor) armKill() {
	if s.stopping && s.killTimer == nil && (s.run != nil || s.finish != nil) {
		s.killTimer = time.NewTimer(s.killAfter)
	}
}

func (s *Supervisor) signalRun(sig syscall.Signal) {
	if s.run != nil {
		s.run.Signal(sig)
	}
}

func (s *Supervisor) signalAny(sig syscall.Signal) {
	switch {
	case s.run != nil:
		s.run.Signal(sig)
	case s.finish != nil:
		s.finish.Signal(sig)
	}
}

func (s *Supervisor) cancelThrottle() {
	if s.throttle != nil {
		s.throttle.Stop()
		s.throttle = nil
	}
}

// startRun starts ./run, or arms the throttle when the last start was less
// than a second ago. It reports whether it published the new state.
func (s *Supervisor) startRun() bool {
	if s.run != nil || s.finish != nil {
		return false
	}
	now := time.Now()
	if !s.lastStart.IsZero() {
		if wait := s.lastStart.Add(Throttle).Sub(now); wait > 0 {
			if s.throttle == nil {
				s.throttle = time.NewTimer(wait)
			}
			return false
		}
	}
	s.lastStart = now
	s.gen++
	if s.gen > 1 {
		s.restarts++
	}
	env, err := serviceEnv(s.baseEnv, filepath.Join(s.dir, "env"))
	if err != nil {
		// As "envdir ./env" in ./run would: no start without the
		// environment the service is configured with.
		s.logf("unable to start %s/run: %v", s.name, err)
		return s.runGone(reaper.Status{WaitStatus: 111 << 8})
	}
	if s.notify != nil {
		env = withEnv(env, "NOTIFY_SOCKET", s.notify.Addr())
	}
	files, err := s.stdio()
	if err != nil {
		s.logf("unable to start %s/run: %v", s.name, err)
		return s.runGone(reaper.Status{WaitStatus: 111 << 8})
	}
	var pipeR, pipeW *os.File
	if n, err := notificationFD(s.dir); err != nil {
		s.logf("%s: readiness not watched: %v", s.name, err)
	} else if n > 0 {
		if pipeR, pipeW, err = os.Pipe(); err != nil {
			s.logf("%s: readiness not watched: pipe: %v", s.name, err)
		} else {
			for len(files) <= n {
				files = append(files, nil)
			}
			files[n] = pipeW
		}
	}
	c, err := s.cfg.Reaper.Spawn(reaper.Cmd{
		Path:   "./run",
		Args:   []string{"./run"},
		Env:    env,
		Dir:    s.dir,
		Files:  files,
		Setsid: true,
	})
	if pipeW != nil {
		pipeW.Close()
	}
	if err != nil {
		if pipeR != nil {
			pipeR.Close()
		}
		s.logf("unable to start %s/run: %v", s.name, unwrapSpawn(err))
		return s.runGone(reaper.Status{WaitStatus: 111 << 8})
	}
	s.run = c
	if s.notify != nil {
		// A READY=1 that ./run sent before this line is kept by the
		// hub since it came after now.
		s.unwatchRun = s.notify.watch(c.Pid, now, s.notified)
	}
	s.paused = false
	s.gotTerm = false
	s.since = now
	if pipeR != nil {
		s.notifyPipe = pipeR
		s.wg.Add(1)
		go s.readNotificationPipe(pipeR, s.gen)
	}
	s.publish()
	return true
}

// unwrapSpawn keeps the errno of a failed Spawn: the message names the file.
func unwrapSpawn(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// stdio returns descriptors 0, 1 and 2 for ./run and ./finish.
func (s *Supervisor) stdio() ([]*os.File, error) {
	files := make([]*os.File, 3, 4)
	for i, f := range []*os.File{s.cfg.Stdin, s.cfg.Stdout, s.cfg.Stderr} {
		if f == nil {
			n, err := null()
			if err != nil {
				return nil, err
			}
			f = n
		}
		files[i] = f
	}
	return files, nil
}

// childExited handles the end of ./run or ./finish.
func (s *Supervisor) childExited() {
	if s.run != nil {
		st := s.run.Status()
		s.run = nil
		s.runGone(st)
		return
	}
	s.finish = nil
	s.down()
}

// runGone handles the end of ./run (or its failure to start, as exit 111):
// readiness ends, ./finish runs if it exists, else the service is down. It
// reports whether it published the new state.
func (s *Supervisor) runGone(st reaper.Status) bool {
	s.lastExit = st
	s.exited = true
	s.gotTerm = false
	s.closeNotifyPipe()
	s.stopWatchingRun()
	// The end of readiness is on disk before the status that says ./run
	// is gone (publish writes the history before the status too).
	if s.ready {
		s.ready = false
		s.readySince = time.Time{}
		if err := svstatus.RemoveReady(s.dir); err != nil {
			s.logf("%s: %v", s.name, err)
		}
	}
	if s.startFinish(st) {
		return true
	}
	return s.down()
}

// startFinish runs "./finish EXITCODE SIGNAL" if DIR/finish exists.
func (s *Supervisor) startFinish(st reaper.Status) bool {
	if _, err := os.Stat(filepath.Join(s.dir, "finish")); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.logf("unable to stat %s/finish: %v", s.name, unwrapPath(err))
		}
		return false
	}
	code := strconv.Itoa(st.ExitStatus())
	if st.Signaled() {
		code = "-1"
	}
	low := strconv.Itoa(int(uint32(st.WaitStatus) & 0xff))
	files, err := s.stdio()
	if err != nil {
		s.logf("unable to start %s/finish: %v", s.name, err)
		return false
	}
	env, err := serviceEnv(s.baseEnv, filepath.Join(s.dir, "env"))
	if err != nil {
		s.logf("unable to start %s/finish: %v", s.name, err)
		return false
	}
	s.saveHistory() // ./finish may read how ./run ended from supervise/ichi
	c, err := s.cfg.Reaper.Spawn(reaper.Cmd{
		Path:   "./finish",
		Args:   []string{"./finish", code, low},
		Env:    env,
		Dir:    s.dir,
		Files:  files,
		Setsid: true,
	})
	if err != nil {
		s.logf("unable to start %s/finish: %v", s.name, unwrapSpawn(err))
		return false
	}
	s.finish = c
	s.armKill()
	s.publish()
	return true
}

// down records that nothing runs, then restarts ./run if it is wanted up.
func (s *Supervisor) down() bool {
	s.since = time.Now()
	if s.killTimer != nil {
		s.killTimer.Stop()
		s.killTimer = nil
	}
	if s.want == 'u' && !s.exiting && s.startRun() {
		return true
	}
	s.publish()
	return true
}

// readiness handles a notification; a stale one (an earlier ./run's pipe,
// a datagram from outside the service) is ignored.
func (s *Supervisor) readiness(ev readyEvent) {
	if s.run == nil || s.ready {
		return
	}
	if ev.gen != 0 {
		if ev.gen != s.gen {
			return
		}
		s.closeNotifyPipe()
	} else if ev.session != s.run.Pid {
		return
	}
	s.ready = true
	s.readySince = time.Now()
	if err := svstatus.WriteReady(s.dir, s.readySince); err != nil {
		s.logf("%s: %v", s.name, err)
	}
	s.publish()
}

// notified is the notify hub's news of a READY=1 from session. It runs on
// the hub's goroutine: it leaves the news for the loop and never blocks.
func (s *Supervisor) notified(session int) {
	s.notifySession.Store(int64(session))
	select {
	case s.notifyKick <- struct{}{}:
	default:
	}
}

// stopWatchingRun ends the notify hub's watch of the ./run that ended.
func (s *Supervisor) stopWatchingRun() {
	if s.unwatchRun != nil {
		s.unwatchRun()
		s.unwatchRun = nil
	}
}

func (s *Supervisor) closeNotifyPipe() {
	if s.notifyPipe != nil {
		s.notifyPipe.Close()
		s.notifyPipe = nil
	}
}

// saveHistory writes supervise/ichi when what it should say has changed.
// The first call writes "restarts=0": the file's presence tells the tools
// that the supervisor is ichi's. A restart right after ./run ended costs one
// write, not two.
func (s *Supervisor) saveHistory() {
	h := svstatus.History{Restarts: int(s.restarts)}
	if s.exited {
		h = svstatus.HistoryOf(int(s.restarts), s.lastExit.WaitStatus)
	}
	if s.historySaved && h == s.history {
		return
	}
	if err := svstatus.WriteHistory(s.dir, h); err != nil {
		s.logf("%s: %v", s.name, err)
		return
	}
	s.history, s.historySaved = h, true
}

// publish writes supervise/ichi (when it changed), then supervise/status,
// pid and stat, and the State snapshot: a tool that reads the new status
// finds the history that goes with it.
func (s *Supervisor) publish() {
	s.saveHistory()
	status := svstatus.Status{
		Since:  s.since,
		Paused: s.paused,
		Want:   'd', // "once" too, as runsv writes it
		Term:   s.gotTerm,
		State:  svstatus.Down,
	}
	switch {
	case s.run != nil:
		status.Pid, status.State = s.run.Pid, svstatus.Run
	case s.finish != nil:
		status.Pid, status.State = s.finish.Pid, svstatus.Finish
	}
	if s.want == 'u' {
		status.Want = 'u'
	}
	if err := svstatus.WriteStatus(s.dir, status); err != nil {
		s.logf("%s: %v", s.name, err)
	}
	if status.Pid != s.publishedPid || s.snap.Since.IsZero() {
		if err := svstatus.WritePid(s.dir, status.Pid); err != nil {
			s.logf("%s: %v", s.name, err)
		} else {
			s.publishedPid = status.Pid
		}
	}
	if err := svstatus.WriteStat(s.dir, status, s.exiting); err != nil {
		s.logf("%s: %v", s.name, err)
	}
	s.mu.Lock()
	s.snap = State{
		Pid:        status.Pid,
		Up:         status.State == svstatus.Run,
		Finishing:  status.State == svstatus.Finish,
		Since:      s.since,
		Want:       s.want,
		Paused:     s.paused,
		Exiting:    s.exiting,
		Ready:      s.ready,
		ReadySince: s.readySince,
		Restarts:   s.restarts,
		LastExit:   s.lastExit,
	}
	s.mu.Unlock()
}
