package container

// These tests run the real binary (testutil.Ichi) as the container init, as
// PID 1 of a new PID namespace and as a plain child (a subreaper), as tini's
// own test suite runs tini.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ichi-init/ichi/internal/procstat"
	"github.com/ichi-init/ichi/internal/testutil"
)

// modes are the two ways the init runs: PID 1 of its own PID namespace, or a
// child of the test (where it makes itself a subreaper).
var modes = []struct {
	name  string
	pidns bool
}{{"pid1", true}, {"subreaper", false}}

// initProc is a running container init.
type initProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	stdin  io.WriteCloser
	stderr *lockedBuffer
	done   chan struct{}
}

// lockedBuffer is init's stderr, written by exec's copying goroutine while
// the test reads it.
type lockedBuffer = testutil.SyncBuffer

// startInit starts the ichi binary with args, in a new PID namespace when
// pidns is set. extra become its descriptors 3, 4, ...
func startInit(t *testing.T, pidns bool, extra []*os.File, args ...string) *initProc {
	t.Helper()
	if pidns {
		testutil.NeedRoot(t)
	}
	cmd := exec.Command(testutil.Ichi(t), args...)
	if pidns {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	}
	cmd.ExtraFiles = extra
	p := &initProc{t: t, cmd: cmd, lines: make(chan string, 100), stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	// A process left behind holding init's stdout or stderr must not
	// keep Wait (and the test) waiting for ever.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// expect reads the program's next line and fails unless it is want.
func (p *initProc) expect(want string) {
	p.t.Helper()
	select {
	case got, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("output ended, want %q; stderr: %s", want, p.stderr)
		}
		if got != want {
			p.t.Fatalf("program said %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		p.t.Fatalf("no line %q after 10 s; stderr: %s", want, p.stderr)
	}
}

// expectAll reads as many lines as it is given and fails unless they are
// those lines, in any order: for output of processes that run side by side.
func (p *initProc) expectAll(want ...string) {
	p.t.Helper()
	var got []string
	for range want {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("output ended after %q, want %q; stderr: %s", got, want, p.stderr)
			}
			got = append(got, line)
		case <-time.After(10 * time.Second):
			p.t.Fatalf("got %q after 10 s, want %q; stderr: %s", got, want, p.stderr)
		}
	}
	slices.Sort(got)
	sorted := slices.Sorted(slices.Values(want))
	if !slices.Equal(got, sorted) {
		p.t.Fatalf("program and services said %q, want %q in any order", got, sorted)
	}
}

// wait waits for init to exit and returns its exit status.
func (p *initProc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("init still running after 10 s; stderr: %s", p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"exit 0", []string{"--", "sh", "-c", "exit 0"}, 0},
		{"exit 7", []string{"--", "sh", "-c", "exit 7"}, 7},
		{"exit 255", []string{"--", "sh", "-c", "exit 255"}, 255},
		{"TERM", []string{"--", "sh", "-c", "kill -s TERM $$"}, 128 + 15},
		{"KILL", []string{"--", "sh", "-c", "kill -s KILL $$"}, 128 + 9},
		{"SEGV", []string{"--", "sh", "-c", "kill -s SEGV $$"}, 128 + 11},
		{"remap 7", []string{"-e", "7", "--", "sh", "-c", "exit 7"}, 0},
		{"remap other", []string{"-e", "7", "--", "sh", "-c", "exit 8"}, 8},
		{"remap signal", []string{"-e", "143", "-e7", "--", "sh", "-c", "kill -s TERM $$"}, 0},
		{"no --", []string{"-v", "sh", "-c", "exit 4"}, 4},
		{"not found", []string{"--", "/nonexistent/program"}, ExitNotFound},
		{"not executable", []string{"--", "/etc/passwd"}, ExitCannotRun},
		{"bad flag", []string{"-x", "--", "true"}, 100},
		{"bad code", []string{"-e", "256", "--", "true"}, 100},
		{"no program", []string{"-g"}, 100},
		{"help", []string{"--", "--help"}, 0},
	}
	for _, m := range modes {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				p := startInit(t, m.pidns, nil, tt.args...)
				p.stdin.Close()
				if got := p.wait(); got != tt.want {
					t.Errorf("init %q exited %d, want %d; stderr: %s", tt.args, got, tt.want, p.stderr)
				}
			})
		}
	}
}

func TestHelpListsFlags(t *testing.T) {
	p := startInit(t, false, nil, "--", "--help")
	var out []string
	for l := range p.lines {
		out = append(out, l)
	}
	if code := p.wait(); code != 0 {
		t.Errorf("help exited %d", code)
	}
	text := strings.Join(out, "\n")
	for _, flag := range []string{"--group", "--remap-exit", "--pdeathsig", "--subreaper"} {
		if !strings.Contains(text, flag) {
			t.Errorf("help does not mention %s:\n%s", flag, text)
		}
	}
}

// trapScript traps the forwarded signals and says which it got; TERM ends
// it with status 42. It waits in short foreground sleeps, which leave
// nothing behind: a background sleep killed from the trap can miss the
// signal when it arrives before the sleep has executed (the forked shell
// still holds the trap then), and live on holding init's stdout.
const trapScript = `for s in INT HUP QUIT USR1 USR2 WINCH; do trap "echo got $s" $s; done
trap 'echo got TERM; exit 42' TERM
echo ready
while :; do sleep 0.05; done`

func TestForwardsSignals(t *testing.T) {
	signals := []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGTERM}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := startInit(t, m.pidns, nil, "--", "sh", "-c", trapScript)
			p.expect("ready")
			for _, sig := range signals {
				if err := p.cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				p.expect("got " + strings.TrimPrefix(sigName(sig), "SIG"))
			}
			if code := p.wait(); code != 42 {
				t.Errorf("init exited %d, want 42; stderr: %s", code, p.stderr)
			}
		})
	}
}

func sigName(sig syscall.Signal) string {
	names := map[syscall.Signal]string{
		syscall.SIGINT: "INT", syscall.SIGHUP: "HUP", syscall.SIGQUIT: "QUIT", syscall.SIGUSR1: "USR1",
		syscall.SIGUSR2: "USR2", syscall.SIGWINCH: "WINCH", syscall.SIGTERM: "TERM",
	}
	return names[sig]
}

func TestGroupForwarding(t *testing.T) {
	// The background sleep is in the program's process group: with -g it
	// gets TERM too, and the trap reports how it died.
	script := `sleep 1000 & s=$!
trap 'wait $s; echo "sleep $?"; exit 5' TERM
echo ready
wait`
	p := startInit(t, true, nil, "-g", "--", "sh", "-c", script)
	p.expect("ready")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.expect("sleep " + strconv.Itoa(128+int(syscall.SIGTERM)))
	if code := p.wait(); code != 5 {
		t.Errorf("init exited %d, want 5; stderr: %s", code, p.stderr)
	}
}

// childrenOf lists the processes whose parent is pid, with their states.
func childrenOf(t *testing.T, pid int) map[int]byte {
	t.Helper()
	ps, err := procstat.List("/proc")
	if err != nil {
		t.Fatal(err)
	}
	kids := map[int]byte{}
	for _, p := range ps {
		if p.PPid == pid {
			kids[p.Pid] = p.State
		}
	}
	return kids
}

func TestReapsOrphans(t *testing.T) {
	const n = 100
	// A subshell forks a reader of fd 3 and exits: the reader is an
	// orphan, adopted by init (PID 1, or the subreaper). Closing the
	// pipe's write end makes the readers exit.
	script := `i=0; while [ $i -lt $0 ]; do (read x <&3 &); i=$((i+1)); done; echo ready; read x; echo bye`
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			p := startInit(t, m.pidns, []*os.File{pr}, "--", "sh", "-c", script, strconv.Itoa(n))
			pr.Close()
			p.expect("ready")
			initPid := p.cmd.Process.Pid
			if kids := childrenOf(t, initPid); len(kids) != n+1 {
				t.Fatalf("init has %d children, want the program and %d orphans", len(kids), n)
			}
			pw.Close()
			deadline := time.Now().Add(10 * time.Second)
			for {
				kids := childrenOf(t, initPid)
				if len(kids) == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("10 s after the orphans were told to exit, init still has %d children: %v", len(kids), kids)
				}
				time.Sleep(10 * time.Millisecond)
			}
			p.stdin.Close()
			p.expect("bye")
			if code := p.wait(); code != 0 {
				t.Errorf("init exited %d; stderr: %s", code, p.stderr)
			}
		})
	}
}

func TestPassesInheritedDescriptors(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	// fd 3 and fd 4 (the same pipe) reach the program.
	p := startInit(t, false, []*os.File{pw, pw}, "--", "sh", "-c", "echo three >&3; echo four >&4")
	pw.Close()
	p.stdin.Close()
	if code := p.wait(); code != 0 {
		t.Fatalf("init exited %d; stderr: %s", code, p.stderr)
	}
	got, _ := io.ReadAll(pr)
	if string(got) != "three\nfour\n" {
		t.Errorf("program wrote %q to its inherited descriptors", got)
	}
}

func TestParentDeathSignal(t *testing.T) {
	// sh starts init with -p USR1 and is killed: init gets USR1 and
	// forwards it to its program, which says so and exits 3.
	program := `trap "echo got USR1; exit 3" USR1; echo ready; while :; do sleep 0.05; done`
	outer := exec.Command("/bin/sh", "-c", `"$0" -p USR1 -- sh -c "$1" & wait`, testutil.Ichi(t), program)
	out, err := outer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := outer.Start(); err != nil {
		t.Fatal(err)
	}
	defer outer.Wait()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("program did not start: %q", lines.Text())
	}
	outer.Process.Kill()
	got := make(chan string, 1)
	go func() {
		lines.Scan()
		got <- lines.Text()
	}()
	select {
	case l := <-got:
		if l != "got USR1" {
			t.Errorf("after the parent died the program said %q, want %q", l, "got USR1")
		}
	case <-time.After(10 * time.Second):
		t.Errorf("no USR1 reached the program 10 s after init's parent died")
	}
}

func TestVerboseNamesForwardedSignals(t *testing.T) {
	p := startInit(t, false, nil, "-v", "--", "sh", "-c", trapScript)
	p.expect("ready")
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.expect("got TERM")
	p.wait()
	if !strings.Contains(p.stderr.String(), fmt.Sprintf("forwarded %v", syscall.SIGTERM)) {
		t.Errorf("verbose stderr does not name the forwarded signal:\n%s", p.stderr)
	}
}

// openPty returns a new pseudo-terminal's master and slave.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		testutil.Missing(t, "no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

func TestProgramGetsTheTerminal(t *testing.T) {
	// init's stdin is its controlling terminal: the program runs in its
	// own process group, which becomes the terminal's foreground group
	// (fields 5 and 8 of /proc/self/stat: pgrp and tpgid).
	master, slave := openPty(t)
	defer master.Close()
	script := `read -r pid comm state ppid pgrp session tty tpgid rest </proc/self/stat; echo "pgid=$pgrp tpgid=$tpgid pid=$pid"; ` + signalState
	cmd := exec.Command(testutil.Ichi(t), "--", "sh", "-c", script)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	out := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(master) // EIO once every slave is closed
		out <- string(b)
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("init: %v", err)
	}
	var got string
	select {
	case got = <-out:
	case <-time.After(10 * time.Second):
		t.Fatal("no output on the terminal")
	}
	var pgid, tpgid, pid int
	ids, state, _ := strings.Cut(strings.ReplaceAll(got, "\r\n", "\n"), "\n")
	if _, err := fmt.Sscanf(ids, "pgid=%d tpgid=%d pid=%d", &pgid, &tpgid, &pid); err != nil {
		t.Fatalf("program said %q: %v", got, err)
	}
	if pgid != pid || tpgid != pgid {
		t.Errorf("program pid %d in group %d, terminal's foreground group %d: want all equal", pid, pgid, tpgid)
	}
	// The program, whose start made init ignore SIGTTIN and SIGTTOU,
	// does not inherit that.
	direct, err := exec.Command("sh", "-c", signalState).Output()
	if err != nil {
		t.Fatal(err)
	}
	if state != string(direct) {
		t.Errorf("program's signal state %q, want %q as when started directly", state, direct)
	}
}

// signalState is a process's ignored and blocked signal masks, as
// /proc/PID/status shows them ("SigIgn:\t...\nSigBlk:\t..." for
// `grep -E '^Sig(Ign|Blk)' /proc/self/status`).
const signalState = `grep -E '^Sig(Ign|Blk)' /proc/self/status | tr '\n\t' '  '`

// The program starts with the signal dispositions and mask init inherited,
// as when it is started directly: none of init's own ignored signals leaks
// into it (SIGTTIN and SIGTTOU, which init ignores once the program has
// the terminal; see TestProgramGetsTheTerminal for that case).
func TestProgramInheritsSignalState(t *testing.T) {
	direct, err := exec.Command("sh", "-c", signalState).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := startInit(t, m.pidns, nil, "--", "sh", "-c", signalState)
			p.stdin.Close()
			p.expect(string(direct))
			if code := p.wait(); code != 0 {
				t.Errorf("init exited %d; stderr: %s", code, p.stderr)
			}
		})
	}
}

// makeServices writes a scan directory with two services: "chatty", without
// log/, whose output goes to init's stdout with its name before each line;
// and "logged", whose log/multilog has it logged in-process into log/main,
// and which says "last words" when it is stopped.
func makeServices(t *testing.T, root string) (scanDir, logFile string) {
	t.Helper()
	scanDir = filepath.Join(root, "service")
	files := map[string]string{
		"chatty/run":          "#!/bin/sh\necho hello from chatty\nexec sleep 1000\n",
		"logged/run":          "#!/bin/sh\nexec 2>&1\ntrap 'echo last words; exit 0' TERM\necho started\nwhile :; do sleep 0.05; done\n",
		"logged/log/multilog": "./main\n",
	}
	for name, text := range files {
		p := filepath.Join(scanDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return scanDir, filepath.Join(scanDir, "logged", "log", "main", "current")
}

// checkLastWords fails unless the logged service's log ends with the line it
// wrote when it was stopped.
func checkLastWords(t *testing.T, logFile string) {
	t.Helper()
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("the logged service's log: %v", err)
	}
	if !strings.HasPrefix(string(data), "started\n") || !strings.HasSuffix(string(data), "last words\n") {
		t.Errorf("log %s holds %q, want \"started\" first and \"last words\" last", logFile, data)
	}
}

func TestServicesBesideProgram(t *testing.T) {
	scanDir, logFile := makeServices(t, t.TempDir())
	// The program waits until the logged service's first line is on
	// disk, then exits 3: init stops the services, lets the logger
	// drain, and exits 3.
	program := `while ! grep -q started "$0" 2>/dev/null; do sleep 0.05; done; echo program done; exit 3`
	p := startInit(t, true, nil, "-S", scanDir, "-t", "5", "--", "sh", "-c", program, logFile)
	// The program waits for the logged service, not for chatty: the two
	// lines may come in either order.
	p.expectAll("chatty: hello from chatty", "program done")
	if code := p.wait(); code != 3 {
		t.Errorf("init exited %d, want the program's 3; stderr: %s", code, p.stderr)
	}
	checkLastWords(t, logFile)
}

func TestServicesWithoutProgram(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sigName(sig), func(t *testing.T) {
			scanDir, logFile := makeServices(t, t.TempDir())
			p := startInit(t, true, nil, "--services", scanDir)
			p.expect("chatty: hello from chatty")
			waitFile(t, logFile, "started\n")
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(); code != 0 {
				t.Errorf("init exited %d after %v, want 0; stderr: %s", code, sig, p.stderr)
			}
			checkLastWords(t, logFile)
		})
	}
}

// waitFile waits up to 10 s for path to hold want.
func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q after 10 s, want %q in it", path, data, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProgramLeadsASessionWithoutTerminal(t *testing.T) {
	// init runs in a session of its own without a terminal: the
	// program leads a new session (fields 1, 5 and 6 of /proc/self/stat:
	// pid, pgrp and session all equal) unlike init.
	script := `read -r pid comm state ppid pgrp session rest </proc/self/stat; echo "pid=$pid pgrp=$pgrp session=$session"`
	cmd := exec.Command(testutil.Ichi(t), "--", "sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	var pid, pgrp, session int
	if _, err := fmt.Sscanf(string(out), "pid=%d pgrp=%d session=%d", &pid, &pgrp, &session); err != nil {
		t.Fatalf("program said %q: %v", out, err)
	}
	if pgrp != pid || session != pid {
		t.Errorf("program pid %d in process group %d, session %d; want both %d", pid, pgrp, session, pid)
	}
	if session == cmd.Process.Pid {
		t.Errorf("program in init's session %d", session)
	}
}
