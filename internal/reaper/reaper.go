// Package reaper owns wait4 for the whole process. It reaps every child and
// every orphan handed to the process (as PID 1, or as a child subreaper), and
// delivers each exit status exactly once to the code that started that pid.
//
// Everything long-running in ichi starts its processes with Reaper.Spawn, and
// nothing calls exec.Cmd.Wait, os.Process.Wait or wait4 itself: a second
// caller of wait4(-1) would steal statuses. Short-lived tools that exec or
// use os/exec and never start a Reaper are unaffected.
//
// The race between fork and registration is closed by a lock: Spawn holds it
// from before fork until the pid is registered, and whoever reaps holds it
// around wait4 and the lookup of the pid's owner. Signals sent through
// Child.Signal take the same lock and are never sent after the pid was reaped,
// so they cannot reach a process that reused the pid.
//
// Two paths lead to a reap, and whichever takes the lock first delivers:
//
//   - Each spawned child gets a pidfd (clone with CLONE_PIDFD), as long as
//     fewer than a quarter of RLIMIT_NOFILE are open, which the Go poller
//     watches; when it becomes readable the child has exited, and a
//     goroutine of the reaper reaps exactly that pid. This is the short way
//     from an exit to its owner: one wake-up of one thread.
//   - SIGCHLD, subscribed with signal.Notify, makes the reap loop call
//     wait4(-1) until nothing is left: orphans, children whose pidfd could
//     not be watched (old kernels, the bound reached), and any child the
//     first path has not yet reached. While orphans keep exiting, the loop pauses a millisecond
//     before each pass, so that a burst is reaped in few passes.
//
// Go delivers a signal to every channel subscribed to it, so the rest of
// init subscribes to the signals it handles with signal.Notify as usual; it
// must never call signal.Ignore or signal.Reset for SIGCHLD.
package reaper

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/ichi-init/ichi/internal/timerslack"
	"golang.org/x/sys/unix"
)

// Role says how the process came to reap orphans.
type Role int

const (
	// PID1 means the process is PID 1 of its PID namespace: the kernel
	// hands it every orphan.
	PID1 Role = iota
	// Subreaper means PR_SET_CHILD_SUBREAPER is set: orphans among its
	// descendants come back to it.
	Subreaper
	// ChildrenOnly means neither: orphans go elsewhere, and only the
	// process's own children are reaped.
	ChildrenOnly
)

func (r Role) String() string {
	switch r {
	case PID1:
		return "PID 1"
	case Subreaper:
		return "child subreaper"
	default:
		return "neither PID 1 nor a subreaper (orphans are not reaped here)"
	}
}

// Options configure Start.
type Options struct {
	// ChildrenOnly leaves PR_SET_CHILD_SUBREAPER alone: the reaper reaps
	// only the process's own children. Standalone tools such as supervise
	// use it, as daemontools' supervise does not adopt orphans.
	ChildrenOnly bool
	// ChildTimerSlack is the timer slack every spawned child starts
	// with, when the process runs with another (see package
	// timerslack): Spawn forks from a thread set to it for the fork.
	// Zero means that children inherit the spawning thread's.
	ChildTimerSlack time.Duration
}

// Reaper is the one owner of wait4 in the process. Create it with Start.
type Reaper struct {
	role       Role
	childSlack time.Duration // Options.ChildTimerSlack

	mu       sync.Mutex // held around fork+register and around wait4+lookup
	children map[int]*Child
	closed   bool           // Stop was called; guarded by mu
	watchers sync.WaitGroup // the goroutines waiting on pidfds; Add under mu
	watched  atomic.Int64   // pidfds open now, bounded by watchLimit

	orphans atomic.Uint64
	reaped  atomic.Uint64

	sigchld  chan os.Signal
	stop     chan struct{}
	stopOnce sync.Once
	stopped  chan struct{}
}

// Start makes the process a child subreaper unless it is PID 1 or
// opts.ChildrenOnly is set, and starts the goroutine that subscribes to
// SIGCHLD and reaps. Role reports what the process became; a failed
// PR_SET_CHILD_SUBREAPER leaves it ChildrenOnly (the caller decides whether
// to warn).
func Start(opts Options) *Reaper {
	r := &Reaper{
		childSlack: opts.ChildTimerSlack,
		children:   make(map[int]*Child),
		sigchld:    make(chan os.Signal, 1),
		stop:       make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	switch {
	case os.Getpid() == 1:
		r.role = PID1
	case opts.ChildrenOnly:
		r.role = ChildrenOnly
	default:
		r.role = ChildrenOnly
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err == nil {
			r.role = Subreaper
		}
	}
	go r.loop()
	return r
}

// Role reports whether the reaper is PID 1, a subreaper, or neither.
func (r *Reaper) Role() Role { return r.role }

// Orphans returns how many processes were reaped that no Spawn had started.
func (r *Reaper) Orphans() uint64 { return r.orphans.Load() }

// Reaped returns how many processes were reaped in all.
func (r *Reaper) Reaped() uint64 { return r.reaped.Load() }

// Running returns how many spawned children have not yet been reaped.
func (r *Reaper) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.children)
}

// Stop ends the reap loop after one last pass, stops watching the pidfds of
// children still running and unsubscribes from SIGCHLD. Children still
// running keep their Child, but their exit is no longer delivered. It is for
// tests and for tools about to exit; init never stops its reaper. It is safe
// to call more than once, from several goroutines.
func (r *Reaper) Stop() {
	r.stopOnce.Do(func() {
		close(r.stop)
		var pidfds []*os.File
		r.mu.Lock()
		r.closed = true
		for _, c := range r.children {
			if c.pidfd != nil {
				pidfds = append(pidfds, c.pidfd)
			}
		}
		r.mu.Unlock()
		// Closing a pidfd wakes its watcher, which then returns. Not
		// under r.mu: Close waits for the watcher to let go of the
		// file, and the watcher may be waiting for r.mu.
		for _, f := range pidfds {
			f.Close()
		}
	})
	<-r.stopped
	r.watchers.Wait()
	signal.Stop(r.sigchld)
}

// orphanBatch is how long the reap loop lets exits pile up, after a
// SIGCHLD, when its previous pass reaped orphans. Each pass ends with a
// wait4 that finds nothing, and that call walks the process's whole list of
// children in the kernel: when thousands of orphans exit over a second on a
// busy machine, a pass per SIGCHLD means hundreds of such walks (measured:
// 10,000 orphans reaped in 4 to 600 passes without the pause, at most 14
// with it). Orphans have nobody waiting for their status, and spawned
// children are delivered through their pidfds meanwhile.
const orphanBatch = time.Millisecond

func (r *Reaper) loop() {
	defer close(r.stopped)
	// Subscribing takes a round trip to the Go runtime's signal-mask
	// thread; here it does not delay Start's caller. An exit before the
	// subscription is not lost: the first pass below comes after it.
	signal.Notify(r.sigchld, syscall.SIGCHLD)
	batch := time.NewTimer(orphanBatch)
	batch.Stop()
	for {
		orphans := r.reapAll()
		select {
		case <-r.sigchld:
		case <-r.stop:
			r.reapAll()
			return
		}
		if orphans > 0 {
			batch.Reset(orphanBatch)
			select {
			case <-batch.C:
			case <-r.stop:
				r.reapAll()
				return
			}
		}
	}
}

// reapAll reaps until no exited child is left, and returns how many of the
// processes it reaped were orphans.
func (r *Reaper) reapAll() (orphans int) {
	for {
		var ws syscall.WaitStatus
		r.mu.Lock()
		pid, err := wait4(-1, &ws)
		if err == syscall.EINTR {
			r.mu.Unlock()
			continue
		}
		if err != 0 || pid <= 0 {
			// ECHILD: no children at all; 0: none has exited yet.
			r.mu.Unlock()
			return orphans
		}
		c := r.reapedLocked(pid)
		r.mu.Unlock()
		r.reaped.Add(1)
		if c == nil {
			r.orphans.Add(1)
			orphans++
			continue
		}
		c.deliver(pid, ws)
	}
}

// reapedLocked records that pid was reaped and returns its owner, nil for
// an orphan. The caller holds r.mu and delivers the status after unlocking.
func (r *Reaper) reapedLocked(pid int) *Child {
	c := r.children[pid]
	if c != nil {
		delete(r.children, pid)
		c.reaped = true
	}
	return c
}

// wait4 is wait4(2) with WNOHANG. It never blocks, so it is made as a raw
// system call, without the scheduler's bookkeeping for blocking calls.
func wait4(pid int, ws *syscall.WaitStatus) (int, syscall.Errno) {
	r1, _, errno := syscall.RawSyscall6(syscall.SYS_WAIT4, uintptr(pid), uintptr(unsafe.Pointer(ws)), syscall.WNOHANG, 0, 0, 0)
	return int(r1), errno
}

// watchLimit is how many pidfds the reaper keeps open at once: a quarter of
// the soft RLIMIT_NOFILE (at least 64). Children started beyond it are
// reaped on SIGCHLD, a little later, so that a PID 1 with thousands of
// services keeps descriptors for everything else. Resources in PID 1 are
// bounded.
func watchLimit() int64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur/4 < 64 {
		return 64
	}
	return int64(min(lim.Cur/4, 1<<30))
}

// watchLocked registers c's pidfd with the Go poller, so that c's exit
// wakes a goroutine that reaps it, and returns that goroutine, which the
// caller starts after releasing r.mu. It returns nil, closing the pidfd, when
// the descriptor cannot be watched: SIGCHLD then does the job.
func (r *Reaper) watchLocked(c *Child, pidfd int) func() {
	if r.closed || syscall.SetNonblock(pidfd, true) != nil {
		syscall.Close(pidfd)
		return nil
	}
	f := os.NewFile(uintptr(pidfd), "pidfd "+strconv.Itoa(c.Pid))
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil
	}
	c.pidfd = f
	r.watchers.Add(1)
	r.watched.Add(1)
	return func() {
		defer r.watchers.Done()
		defer r.watched.Add(-1)
		defer f.Close()
		// The function runs once at once, then each time the poller
		// says the pidfd is readable, which it becomes when c exits.
		// Read returns when the function says c is reaped, when the
		// poller cannot watch the file, or when Stop closes it.
		if rc.Read(func(uintptr) bool { return r.reapChild(c) }) != nil {
			return // SIGCHLD is left to tell
		}
		// The owner of c, woken by its status, runs before this
		// goroutine unregisters and closes the pidfd: a supervisor
		// restarts its service first.
		runtime.Gosched()
	}
}

// reapChild reaps c if it has exited and delivers its status. It reports
// whether c's watch is over: c has been reaped, by this call or by the reap
// loop.
func (r *Reaper) reapChild(c *Child) bool {
	var ws syscall.WaitStatus
	r.mu.Lock()
	if c.reaped {
		r.mu.Unlock()
		return true
	}
	pid, err := wait4(c.Pid, &ws)
	for err == syscall.EINTR {
		pid, err = wait4(c.Pid, &ws)
	}
	if pid != c.Pid {
		// 0: not exited yet (the poller woke early). ECHILD: someone
		// broke the contract and reaped it elsewhere; nothing will
		// ever come.
		r.mu.Unlock()
		return err == syscall.ECHILD
	}
	r.reapedLocked(pid)
	r.mu.Unlock()
	r.reaped.Add(1)
	c.deliver(pid, ws)
	return true
}

// Cmd describes a process to start.
type Cmd struct {
	// Path is the program to execute, as execve takes it: a name without
	// a slash is not searched in PATH (use LookPath first). A relative
	// path is relative to Dir.
	Path string
	// Args is the argument vector, argv[0] included. Empty means [Path].
	Args []string
	// Env is the environment; nil means none.
	Env []string
	// Dir is the working directory; empty means the caller's.
	Dir string
	// Files are the child's descriptors: Files[i] becomes fd i. A nil
	// entry leaves fd i closed in the child. Descriptors past the end of
	// Files are not inherited.
	Files []*os.File
	// Setsid starts a new session (and so a new process group).
	Setsid bool
	// Setpgid puts the child in process group Pgid (0: a new group whose
	// id is its pid).
	Setpgid bool
	Pgid    int
	// Setctty makes fd Ctty the controlling terminal (needs Setsid).
	Setctty bool
	Ctty    int
	// Foreground puts the child in its own process group (as Setpgid with
	// Pgid 0) and makes that group the foreground group of the terminal
	// on the child's fd Ctty, which must be the caller's controlling
	// terminal: a container init gives its terminal to its program so.
	Foreground bool
	// Credential, when set, is the uid, gid and groups the child runs as.
	Credential *syscall.Credential
	// Pdeathsig is sent to the child when the thread that started it dies.
	Pdeathsig syscall.Signal
}

// Child is a process started with Spawn.
type Child struct {
	// Pid is the child's process id.
	Pid int

	r      *Reaper
	done   chan struct{}
	status Status
	reaped bool     // guarded by r.mu
	pidfd  *os.File // watched for the exit, nil if not; set under r.mu
}

// deliver publishes the status of the reaped child: once, by whoever reaped
// it.
func (c *Child) deliver(pid int, ws syscall.WaitStatus) {
	c.status = Status{Pid: pid, WaitStatus: ws}
	close(c.done)
}

// Spawn starts cmd and registers it before the reap loop can see its exit.
// Its status arrives exactly once, on Child.Done.
func (r *Reaper) Spawn(cmd Cmd) (*Child, error) {
	argv := cmd.Args
	if len(argv) == 0 {
		argv = []string{cmd.Path}
	}
	fds := make([]uintptr, len(cmd.Files))
	for i, f := range cmd.Files {
		if f == nil {
			fds[i] = ^uintptr(0) // closed in the child
		} else {
			fds[i] = f.Fd()
		}
	}
	attr := &syscall.ProcAttr{
		Dir:   cmd.Dir,
		Env:   cmd.Env,
		Files: fds,
		Sys: &syscall.SysProcAttr{
			Setsid:     cmd.Setsid,
			Setpgid:    cmd.Setpgid,
			Pgid:       cmd.Pgid,
			Setctty:    cmd.Setctty,
			Ctty:       cmd.Ctty,
			Foreground: cmd.Foreground,
			Credential: cmd.Credential,
			Pdeathsig:  cmd.Pdeathsig,
		},
	}
	if attr.Env == nil {
		attr.Env = []string{}
	}
	if r.childSlack > 0 {
		restore, err := childSlackThread(r.childSlack)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
		}
		defer restore()
	}
	pidfd := -1
	r.mu.Lock()
	// Checked under the lock, which watchLocked counts under too, so that
	// concurrent starts cannot overshoot the bound.
	if r.watched.Load() < watchLimit() {
		attr.Sys.PidFD = &pidfd
	}
	pid, err := syscall.ForkExec(cmd.Path, argv, attr)
	if (err == syscall.EMFILE || err == syscall.ENFILE) && attr.Sys.PidFD != nil {
		// No descriptor for the pidfd: this child is reaped on SIGCHLD.
		attr.Sys.PidFD, pidfd = nil, -1
		pid, err = syscall.ForkExec(cmd.Path, argv, attr)
	}
	if err != nil {
		r.mu.Unlock()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	c := &Child{Pid: pid, r: r, done: make(chan struct{})}
	r.children[pid] = c
	var watcher func()
	if pidfd >= 0 {
		watcher = r.watchLocked(c, pidfd)
	}
	r.mu.Unlock()
	runtime.KeepAlive(cmd.Files)
	if watcher != nil {
		go watcher()
	}
	return c, nil
}

// childSlackThread locks the calling goroutine to its thread and sets the
// thread's timer slack to slack, so that a child forked from it starts
// with that slack. restore sets the thread's own slack back and unlocks
// it; if that fails, the thread stays locked, and the runtime ends it with
// the goroutine rather than run other goroutines on it.
func childSlackThread(slack time.Duration) (restore func(), err error) {
	runtime.LockOSThread()
	own, err := timerslack.Thread()
	if err == nil && own != slack {
		err = timerslack.SetThread(slack)
	}
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return func() {
		if own == slack || timerslack.SetThread(own) == nil {
			runtime.UnlockOSThread()
		}
	}, nil
}

// Done is closed when the child has been reaped; Status is valid then.
func (c *Child) Done() <-chan struct{} { return c.done }

// Wait blocks until the child has been reaped and returns its status.
func (c *Child) Wait() Status {
	<-c.done
	return c.status
}

// Status returns the exit status. It is valid only after Done is closed.
func (c *Child) Status() Status { return c.status }

// ErrReaped is returned by Signal for a child that has already been reaped.
var ErrReaped = errors.New("process already reaped")

// Signal sends sig to the child unless it has been reaped: a zombie still
// owns its pid, so the signal cannot reach another process.
func (c *Child) Signal(sig syscall.Signal) error {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if c.reaped {
		return ErrReaped
	}
	if err := syscall.Kill(c.Pid, sig); err != nil {
		return fmt.Errorf("kill %d %v: %w", c.Pid, sig, err)
	}
	return nil
}

// SignalGroup sends sig to the child's process group (the child must lead
// one: Setsid or Setpgid with Pgid 0), as long as the child is not reaped.
func (c *Child) SignalGroup(sig syscall.Signal) error {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if c.reaped {
		return ErrReaped
	}
	if err := syscall.Kill(-c.Pid, sig); err != nil {
		return fmt.Errorf("kill -%d %v: %w", c.Pid, sig, err)
	}
	return nil
}

// Status is how a process ended.
type Status struct {
	Pid int
	syscall.WaitStatus
}

// Code is the status a shell would report: the exit code, or 128+N when the
// process died of signal N.
func (s Status) Code() int {
	if s.Signaled() {
		return 128 + int(s.Signal())
	}
	return s.ExitStatus()
}

func (s Status) String() string {
	if s.Signaled() {
		return fmt.Sprintf("pid %d killed by signal %d (%v)", s.Pid, int(s.Signal()), s.Signal())
	}
	return fmt.Sprintf("pid %d exited %d", s.Pid, s.ExitStatus())
}
