// Package container is ichi's container init: "init [flags] -- PROGRAM
// [ARGS]", what tini and dumb-init do, with optional supervision of a service
// directory beside the program.
//
// PROGRAM is the main child. It is started through the reaper (so its exit
// cannot be lost), in a process group of its own, which becomes the terminal's
// foreground group when init's standard input is its controlling terminal
// (as tini does); when init has no controlling terminal at all, PROGRAM leads
// a session of its own too (as with dumb-init), which keeps the kernel from
// walking PROGRAM's process group at each exit of its members. It inherits
// init's environment, every descriptor init inherited without close-on-exec,
// and the signal dispositions init inherited. Every signal init receives,
// except SIGCHLD (the reaper's) and SIGTTIN and SIGTTOU, is forwarded to
// PROGRAM, or to its process group with -g. Once PROGRAM has taken the
// terminal, init ignores SIGTTIN and SIGTTOU, so that it is never stopped
// for writing to the terminal it gave away. Zombies are reaped: as PID 1
// every orphan of the namespace comes to init; otherwise init makes itself
// a child subreaper and warns when the kernel refuses. When PROGRAM exits,
// init exits with its status, 128+N when it died of signal N, or 0 for a
// status named by -e.
//
// With a service directory (-S DIR), the services in it are supervised beside
// PROGRAM by the embedded scanner (internal/svscan), whose catch-all copies
// the output of services without log/ to init's standard output, each line
// prefixed with the service's name. When PROGRAM exits, the services are
// stopped (TERM, then KILL after the stop timeout), their loggers drain their
// pipes, and init exits with PROGRAM's status. Without PROGRAM, init runs
// until SIGTERM or SIGINT, then stops everything the same way and exits 0;
// SIGHUP asks for a rescan.
//
// It mounts nothing and sets up no network: that is the runtime's job.
package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ichi-init/ichi/internal/initsig"
	"github.com/ichi-init/ichi/internal/procstat"
	"github.com/ichi-init/ichi/internal/reaper"
)

// Main is the container role's entry point: args are the words after
// argv[0], and signals is the channel to subscribe to the signals init
// forwards.
//
// The fatal signals (SIGTERM, SIGINT, SIGHUP, SIGQUIT) are subscribed to
// first, before anything else: until then one of them ends init (status 2,
// as during the Go runtime's own start-up, before any code of init runs),
// and a program that is up must be able to count on init forwarding them.
// Each signal is a round trip to the Go runtime's signal-mask thread, about
// 30 µs here (a quarter of a millisecond for these four, with the threads
// the first one starts); a goroutine subscribes to the others while
// PROGRAM starts, where seventeen more round trips would double that. One
// of those that arrives before is dropped, in PROGRAM's first half
// millisecond, before it has set up any handler of its own (it would die
// of most of them). The parent-death signal of -p is subscribed to at
// once: it is sent at once when the parent is already gone.
//
// (Subscribing to the fatal four from that goroutine too, while init
// prepares PROGRAM's start, was measured: to start PROGRAM only once they
// are subscribed, init waits as long as it would have spent subscribing;
// not waiting let a SIGTERM sent to init once PROGRAM was up end init.)
func Main(args []string, signals chan os.Signal) int {
	signal.Notify(signals, initsig.Fatal...)
	cfg, err := Parse(args)
	switch {
	case errors.Is(err, ErrHelp):
		fmt.Print(Help)
		return 0
	case err != nil:
		usage(os.Stderr, err)
		return 100
	}
	if cfg.Pdeathsig != 0 {
		signal.Notify(signals, cfg.Pdeathsig)
	}
	go signal.Notify(signals, initsig.ContainerRest()...)
	return Run(cfg, signals, os.Stderr)
}

// Exit statuses of init itself, as shells use them.
const (
	// ExitNotFound: PROGRAM was not found.
	ExitNotFound = 127
	// ExitCannotRun: PROGRAM was found but could not be started.
	ExitCannotRun = 126
	// ExitTemporary: init could not set itself up (daemontools' 111).
	ExitTemporary = 111
)

// Run is the container init with a parsed command line. Messages go to
// stderr. It returns init's exit status.
func Run(cfg Config, signals <-chan os.Signal, stderr io.Writer) int {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "init: "+format+"\n", args...)
	}
	if cfg.Pdeathsig != 0 {
		if err := setPdeathsig(cfg.Pdeathsig); err != nil {
			logf("fatal: %v", err)
			return ExitTemporary
		}
	}
	r := reaper.Start(reaper.Options{})
	if r.Role() == reaper.ChildrenOnly {
		logf("warning: not PID 1, and the kernel refused to make init a child subreaper: orphans will not be reaped here")
	}
	var svc *services
	if cfg.Services != "" {
		var err error
		if svc, err = startServices(cfg, r, logf); err != nil {
			logf("fatal: %v", err)
			return ExitTemporary
		}
	}
	if len(cfg.Program) == 0 {
		return runServicesOnly(svc, signals, logf)
	}
	child, code := startProgram(cfg.Program, r, logf)
	if child == nil {
		if svc != nil {
			svc.stop()
		}
		return code
	}
	if cfg.Verbose {
		logf("started %s as pid %d", cfg.Program[0], child.Pid)
	}
	st := forward(cfg, child, signals, logf)
	code = st.Code()
	if cfg.Verbose {
		logf("%s %v", cfg.Program[0], st)
	}
	if svc != nil {
		svc.stop()
	}
	if cfg.Remap[code] {
		code = 0
	}
	return code
}

// forward passes every signal to the program until it exits, and returns its
// status.
func forward(cfg Config, child *reaper.Child, signals <-chan os.Signal, logf func(string, ...any)) reaper.Status {
	for {
		select {
		case <-child.Done():
			return child.Status()
		case s := <-signals:
			sig, ok := s.(syscall.Signal)
			if !ok || sig == syscall.SIGCHLD || sig == syscall.SIGTTIN || sig == syscall.SIGTTOU {
				continue
			}
			send, target := child.Signal, strconv.Itoa(child.Pid)
			if cfg.Group {
				send, target = child.SignalGroup, "group "+target
			}
			err := send(sig)
			switch {
			case errors.Is(err, reaper.ErrReaped), errors.Is(err, syscall.ESRCH):
				// The program is gone; its status is on its way.
			case err != nil:
				logf("warning: forward %v: %v", sig, err)
			case cfg.Verbose:
				logf("forwarded %v to %s", sig, target)
			}
		}
	}
}

// runServicesOnly is init without a program: it supervises until SIGTERM or
// SIGINT, then stops everything and returns 0. SIGHUP asks for a rescan. If
// the scanner cannot run (another holds the directory), init exits 111.
func runServicesOnly(svc *services, signals <-chan os.Signal, logf func(string, ...any)) int {
	for {
		select {
		case <-svc.done:
			svc.stop()
			return ExitTemporary
		case s := <-signals:
			switch s {
			case syscall.SIGTERM, syscall.SIGINT:
				logf("%v: stopping the services", s)
				svc.stop()
				return 0
			case syscall.SIGHUP:
				svc.rescan()
			}
		}
	}
}

// startProgram starts the main child. On failure it reports why and returns
// the exit status a shell would give.
func startProgram(argv []string, r *reaper.Reaper, logf func(string, ...any)) (*reaper.Child, int) {
	// A name with a slash is not searched for: execve itself reports a
	// missing file or one that cannot be executed, with the same errnos
	// LookPath would find, and init starts sooner without the look.
	path := argv[0]
	if !strings.Contains(path, "/") {
		var err error
		if path, err = exec.LookPath(argv[0]); err != nil {
			logf("fatal: %s: %v", argv[0], unwrapExec(err))
			if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
				return nil, ExitNotFound
			}
			return nil, ExitCannotRun
		}
	}
	cmd := reaper.Cmd{
		Path:    path,
		Args:    argv,
		Env:     os.Environ(),
		Files:   standardFiles(),
		Setpgid: true,
	}
	switch {
	case cmd.Files[0] != nil && controllingTerminal(0):
		cmd.Foreground, cmd.Ctty = true, 0
	case noControllingTerminal():
		// A session of its own changes nothing the program can see
		// (it has no terminal either way, and still leads its
		// process group), but it spares the kernel a walk over the
		// whole process group at every exit of one of its members:
		// a process group whose parent is in the same session is
		// checked for becoming orphaned, under the task-list lock
		// that wait4 needs too. With thousands of orphans exiting,
		// that walk made reaping quadratic.
		cmd.Setpgid, cmd.Setsid = false, true
	}
	c, err := r.Spawn(cmd)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			err = errno // the message names the program already
		}
		logf("fatal: %s: %v", argv[0], err)
		if errors.Is(err, syscall.ENOENT) {
			return nil, ExitNotFound
		}
		return nil, ExitCannotRun
	}
	if cmd.Foreground {
		// init is now in the background on its terminal: writing to
		// it there (with stty tostop) would send init SIGTTOU. Ignored
		// only now, as tini does in its own process only: PROGRAM
		// must not inherit the two ignored, and Go's fork resets only
		// the signals it catches. Services started after this (a
		// restart) do inherit them.
		signal.Ignore(syscall.SIGTTIN, syscall.SIGTTOU)
	}
	return c, 0
}

// unwrapExec drops exec.Error's repetition of the program's name.
func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// standardFiles returns init's standard descriptors for the program; one
// that is not open stays closed there. Every other descriptor init inherited
// without close-on-exec (a runtime's passed sockets, for instance) reaches
// the program at its own number without being named: the exec leaves it
// open, and Go's fork only touches the descriptors it is given (naming fd N
// would make it close every unnamed one below N in the child, one system
// call each). Descriptors init opens itself are all close-on-exec.
func standardFiles() []*os.File {
	files := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	for fd := range files {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			files[fd] = nil
		}
	}
	return files
}

// noControllingTerminal reports whether init has no controlling terminal:
// field 7 (tty_nr) of /proc/self/stat is 0. It reports false when it cannot
// tell.
func noControllingTerminal() bool {
	// Read with plain system calls: this runs on every container start,
	// and an os.File would be set up for the poller first.
	fd, err := unix.Open("/proc/self/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var buf [4096]byte // the line is about 300 bytes
	n, err := unix.Read(fd, buf[:])
	if err != nil || n <= 0 {
		return false
	}
	f := procstat.Fields(buf[:n])
	return len(f) > procstat.TTY && f[procstat.TTY] == "0"
}

// controllingTerminal reports whether fd is init's controlling terminal.
func controllingTerminal(fd int) bool {
	_, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil
}

// setPdeathsig asks the kernel to send sig to init when its parent dies, and
// sends it at once when the parent died before the request.
func setPdeathsig(sig syscall.Signal) error {
	ppid := os.Getppid()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(sig), 0, 0, 0); err != nil {
		return fmt.Errorf("parent death signal %v: %w", sig, err)
	}
	if os.Getppid() != ppid {
		return unix.Kill(os.Getpid(), sig)
	}
	return nil
}
