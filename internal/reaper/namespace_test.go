package reaper

// These tests run the reaper where it matters: as PID 1 of a fresh PID
// namespace (every orphan in the namespace comes to it), and as a child
// subreaper. The test binary re-executes itself with scenarioEnv set; TestMain
// then runs that scenario instead of the tests and reports on stdout, one
// "FAIL: ..." line per problem and "INFO: ..." lines for the log.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ichi-init/ichi/internal/procstat"
	"github.com/ichi-init/ichi/internal/testutil"
)

// scenarioEnv names the scenario a re-executed test binary runs.
const scenarioEnv = "ICHI_REAPER_SCENARIO"

func TestMain(m *testing.M) {
	if name := os.Getenv(scenarioEnv); name != "" {
		os.Exit(runScenario(name))
	}
	os.Exit(m.Run())
}

// runInNamespace re-executes the test binary to run scenario, as PID 1 of a
// new PID and mount namespace when pidns is set, and fails t for every FAIL
// line it reports.
func runInNamespace(t *testing.T, scenario string, pidns bool) {
	t.Helper()
	testutil.NeedRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), scenarioEnv+"="+scenario)
	if pidns {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		switch {
		case strings.HasPrefix(line, "FAIL: "):
			t.Error(strings.TrimPrefix(line, "FAIL: "))
		case line != "":
			t.Log(line)
		}
	}
	if err != nil {
		t.Fatalf("scenario %s: %v\nstderr: %s", scenario, err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "DONE") {
		t.Fatalf("scenario %s did not finish\nstderr: %s", scenario, stderr.String())
	}
}

func TestPID1ReapsTenThousandOrphans(t *testing.T) { runInNamespace(t, "orphans", true) }

func TestPID1ConcurrentStartsGetTheirOwnStatus(t *testing.T) { runInNamespace(t, "starts", true) }

func TestPID1IgnoresStopAndContinue(t *testing.T) { runInNamespace(t, "stop", true) }

func TestSubreaperReapsOrphansOfItsChild(t *testing.T) { runInNamespace(t, "subreaper", false) }

// report collects a scenario's findings for its parent.
type report struct {
	mu     sync.Mutex
	failed bool
}

func (r *report) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	fmt.Printf("FAIL: "+format+"\n", args...)
}

func (r *report) info(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Printf("INFO: "+format+"\n", args...)
}

func runScenario(name string) int {
	rep := &report{}
	scenarios := map[string]func(*report){
		"orphans":   scenarioOrphans,
		"starts":    scenarioStarts,
		"stop":      scenarioStop,
		"subreaper": scenarioSubreaper,
	}
	run, ok := scenarios[name]
	if !ok {
		rep.fail("unknown scenario %q", name)
		return 1
	}
	if os.Getpid() == 1 {
		// A private mount namespace: mount a /proc that shows this
		// namespace's processes only.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			rep.fail("make / private: %v", err)
			return 1
		}
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			rep.fail("mount /proc: %v", err)
			return 1
		}
	}
	run(rep)
	fmt.Println("DONE")
	if rep.failed {
		return 1
	}
	return 0
}

// processes lists /proc.
func processes() ([]procstat.Process, error) { return procstat.List("/proc") }

// forkOrphans starts sh, which forks n background children that block
// reading fd 3 and then exits, so that the children are orphaned. Closing the
// returned write end makes them all exit at once.
func forkOrphans(r *Reaper, n int) (*os.File, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	script := `i=0; while [ $i -lt $0 ]; do read x <&3 & i=$((i+1)); done`
	c, err := r.Spawn(Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", script, strconv.Itoa(n)}, Files: []*os.File{nil, os.Stderr, os.Stderr, pr}})
	if err != nil {
		pw.Close()
		return nil, err
	}
	if st := c.Wait(); st.Code() != 0 {
		pw.Close()
		return nil, fmt.Errorf("forking sh: %v", st)
	}
	return pw, nil
}

// scenarioOrphans: 10,000 orphans exit at once; none may be left as a zombie.
func scenarioOrphans(rep *report) {
	const n = 10000
	r := Start(Options{})
	defer r.Stop()
	if r.Role() != PID1 {
		rep.fail("role %v, want PID 1", r.Role())
	}
	pw, err := forkOrphans(r, n)
	if err != nil {
		rep.fail("%v", err)
		return
	}
	ps, err := processes()
	if err != nil {
		rep.fail("%v", err)
	}
	adopted := 0
	for _, p := range ps {
		if p.PPid == 1 {
			adopted++
		}
	}
	if adopted != n {
		rep.fail("%d processes have PID 1 as parent, want the %d orphans", adopted, n)
	}
	// Waking 10,000 processes takes the kernel a while on a small
	// machine; what the reaper answers for is that no zombie outlives
	// the last exit by more than 2 s.
	start := time.Now()
	pw.Close()
	var lastExit time.Time // when no orphan was left alive
	maxZombies := 0
	for {
		ps, err := processes()
		if err != nil {
			rep.fail("%v", err)
			return
		}
		zombies := 0
		for _, p := range ps {
			if p.State == 'Z' {
				zombies++
			}
		}
		maxZombies = max(maxZombies, zombies)
		now := time.Now()
		if lastExit.IsZero() && len(ps)-1 == zombies {
			lastExit = now
		}
		if len(ps) == 1 {
			rep.info("%d orphans exited in %v and were reaped in %v (at most %d zombies seen at once)",
				n, lastExit.Sub(start).Round(time.Millisecond), now.Sub(start).Round(time.Millisecond), maxZombies)
			break
		}
		if !lastExit.IsZero() && now.Sub(lastExit) > 2*time.Second {
			rep.fail("2 s after the last orphan exited, %d zombies are left", zombies)
			return
		}
		if now.Sub(start) > 30*time.Second {
			rep.fail("30 s after the orphans were told to exit: %d processes left, %d of them zombies", len(ps)-1, zombies)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The sh that forked them is the one spawned child; every other
	// reap is an orphan.
	if got := waitCount(r.Orphans, n); got != n {
		rep.fail("Orphans() = %d, want %d", got, n)
	}
	if got := r.Reaped(); got != n+1 {
		rep.fail("Reaped() = %d, want %d", got, n+1)
	}
}

// scenarioStarts: 1,000 concurrent starts of children that exit at once, with
// an exit code or a signal each; every status goes to its own starter, once.
func scenarioStarts(rep *report) {
	const n = 1000
	r := Start(Options{})
	defer r.Stop()
	signals := []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGQUIT, syscall.SIGALRM}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			script, want := "exit $0", i%256
			arg := strconv.Itoa(want)
			if i%3 == 2 {
				sig := signals[i%len(signals)]
				script, want, arg = "kill -s $0 $$", 128+int(sig), strings.TrimPrefix(unix.SignalName(sig), "SIG")
			}
			c, err := r.Spawn(Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", script, arg}})
			if err != nil {
				rep.fail("start %d: %v", i, err)
				return
			}
			select {
			case <-c.Done():
			case <-time.After(20 * time.Second):
				rep.fail("child %d (%s %s): no status after 20 s", c.Pid, script, arg)
				return
			}
			st := c.Status()
			if st.Pid != c.Pid || st.Code() != want {
				rep.fail("child %d (%s %s): got %v (code %d), want code %d", c.Pid, script, arg, st, st.Code(), want)
			}
		})
	}
	wg.Wait()
	if got := r.Reaped(); got != n {
		rep.fail("Reaped() = %d, want %d", got, n)
	}
	if got := r.Orphans(); got != 0 {
		rep.fail("Orphans() = %d, want 0", got)
	}
	if got := r.Running(); got != 0 {
		rep.fail("Running() = %d, want 0", got)
	}
	rep.info("%d concurrent starts, each status delivered to its owner", n)
}

// waitCount polls count until it reaches want (the counters are updated just
// after wait4 returns, so /proc can be ahead of them), for up to 10 s, and
// returns its last value.
func waitCount(count func() uint64, want uint64) uint64 {
	deadline := time.Now().Add(10 * time.Second)
	for count() != want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return count()
}

// waitState polls /proc until pid is in state want.
func waitState(pid int, want byte) error {
	deadline := time.Now().Add(10 * time.Second)
	var last byte
	for time.Now().Before(deadline) {
		ps, err := processes()
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.Pid == pid {
				last = p.State
			}
		}
		if last == want {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("pid %d: state %q after 10 s, want %q", pid, last, want)
}

// scenarioStop: a child that is stopped and continued, by itself or from
// outside, and an orphan that is, get no status for the stop; their real
// exit is delivered afterwards.
func scenarioStop(rep *report) {
	r := Start(Options{})
	defer r.Stop()

	// Stopped by itself, continued by us, then exits 3.
	self, err := r.Spawn(Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "kill -s STOP $$; exit 3"}})
	if err != nil {
		rep.fail("%v", err)
		return
	}
	// Stopped and continued from outside several times, then killed.
	outside, err := r.Spawn(Cmd{Path: "/bin/sleep", Args: []string{"sleep", "1000"}})
	if err != nil {
		rep.fail("%v", err)
		return
	}
	// An orphan that is stopped and continued, then exits.
	pw, err := forkOrphans(r, 1)
	if err != nil {
		rep.fail("%v", err)
		return
	}
	var orphan int
	ps, _ := processes()
	for _, p := range ps {
		if p.PPid == 1 && p.Pid != self.Pid && p.Pid != outside.Pid {
			orphan = p.Pid
		}
	}
	if orphan == 0 {
		rep.fail("no orphan found")
		return
	}

	if err := waitState(self.Pid, 'T'); err != nil {
		rep.fail("%v", err)
	}
	for range 3 {
		if err := outside.Signal(syscall.SIGSTOP); err != nil {
			rep.fail("%v", err)
		}
		if err := unix.Kill(orphan, syscall.SIGSTOP); err != nil {
			rep.fail("stop orphan %d: %v", orphan, err)
		}
		if err := waitState(outside.Pid, 'T'); err != nil {
			rep.fail("%v", err)
		}
		if err := waitState(orphan, 'T'); err != nil {
			rep.fail("%v", err)
		}
		// Give the reap loop time to (wrongly) act on the SIGCHLD
		// the stops sent.
		time.Sleep(50 * time.Millisecond)
		for _, c := range []*Child{self, outside} {
			select {
			case <-c.Done():
				rep.fail("child %d: status %v delivered for a stop", c.Pid, c.Status())
				return
			default:
			}
		}
		if got := r.Reaped(); got != 1 { // the sh that made the orphan
			rep.fail("Reaped() = %d while the others are only stopped, want 1", got)
		}
		if err := outside.Signal(syscall.SIGCONT); err != nil {
			rep.fail("%v", err)
		}
		if err := unix.Kill(orphan, syscall.SIGCONT); err != nil {
			rep.fail("continue orphan %d: %v", orphan, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := self.Signal(syscall.SIGCONT); err != nil {
		rep.fail("%v", err)
	}
	if err := outside.Signal(syscall.SIGTERM); err != nil {
		rep.fail("%v", err)
	}
	pw.Close()
	for _, tc := range []struct {
		c    *Child
		want int
	}{{self, 3}, {outside, 128 + int(syscall.SIGTERM)}} {
		select {
		case <-tc.c.Done():
			if got := tc.c.Status().Code(); got != tc.want {
				rep.fail("child %d: code %d after stop/continue, want %d", tc.c.Pid, got, tc.want)
			}
		case <-time.After(10 * time.Second):
			rep.fail("child %d: no exit status after continue", tc.c.Pid)
		}
	}
	if got := waitCount(r.Orphans, 1); got != 1 {
		rep.fail("Orphans() = %d after the stopped orphan exited, want 1", got)
	}
	rep.info("stops and continues delivered nothing; exits delivered")
}

// scenarioSubreaper: not PID 1, the reaper makes the process a child
// subreaper, and the orphans of its child come back to it and are reaped.
func scenarioSubreaper(rep *report) {
	const n = 200
	if os.Getpid() == 1 {
		rep.fail("subreaper scenario runs as PID 1")
		return
	}
	r := Start(Options{})
	defer r.Stop()
	if r.Role() != Subreaper {
		rep.fail("role %v, want child subreaper", r.Role())
		return
	}
	pw, err := forkOrphans(r, n)
	if err != nil {
		rep.fail("%v", err)
		return
	}
	me := os.Getpid()
	children := func() (all, zombies int) {
		ps, err := processes()
		if err != nil {
			rep.fail("%v", err)
		}
		for _, p := range ps {
			if p.PPid == me {
				all++
				if p.State == 'Z' {
					zombies++
				}
			}
		}
		return all, zombies
	}
	if all, _ := children(); all != n {
		rep.fail("%d processes have the subreaper as parent, want the %d orphans", all, n)
	}
	pw.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, zombies := children()
		if all == 0 {
			break
		}
		if time.Now().After(deadline) {
			rep.fail("10 s after the orphans were told to exit: %d children left, %d zombies", all, zombies)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := waitCount(r.Orphans, n); got != n {
		rep.fail("Orphans() = %d, want %d", got, n)
	}
	rep.info("%d orphans came back to the subreaper and were reaped", n)
}
