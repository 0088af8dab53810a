package reaper

import (
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/testutil"
	"github.com/ichi-init/ichi/internal/timerslack"
)

func TestSpawnDeliversExitCodeAndSignal(t *testing.T) {
	r := Start(Options{ChildrenOnly: true})
	defer r.Stop()
	tests := []struct {
		script   string
		wantCode int
	}{
		{"exit 0", 0},
		{"exit 7", 7},
		{"kill -TERM $$", 128 + 15},
		{"kill -KILL $$", 128 + 9},
	}
	for _, tt := range tests {
		c, err := r.Spawn(Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", tt.script}})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%q: no status after 5 s", tt.script)
		}
		if got := c.Status().Code(); got != tt.wantCode {
			t.Errorf("%q: code %d, want %d (%v)", tt.script, got, tt.wantCode, c.Status())
		}
		if c.Status().Pid != c.Pid {
			t.Errorf("%q: status pid %d, child pid %d", tt.script, c.Status().Pid, c.Pid)
		}
	}
}

func TestConcurrentSpawnsEachGetOwnStatus(t *testing.T) {
	r := Start(Options{ChildrenOnly: true})
	defer r.Stop()
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			code := i % 120
			c, err := r.Spawn(Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "exit $0", strconv.Itoa(code)}})
			if err != nil {
				errs <- err
				return
			}
			if st := c.Wait(); st.Code() != code {
				t.Errorf("child %d: code %d, want %d", c.Pid, st.Code(), code)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if r.Running() != 0 {
		t.Errorf("%d children still registered", r.Running())
	}
}

func TestSignalAfterReapIsRefused(t *testing.T) {
	r := Start(Options{ChildrenOnly: true})
	defer r.Stop()
	c, err := r.Spawn(Cmd{Path: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	c.Wait()
	if err := c.Signal(syscall.SIGTERM); err != ErrReaped {
		t.Errorf("Signal after reap: %v, want ErrReaped", err)
	}
}

func TestFilesBecomeDescriptors(t *testing.T) {
	r := Start(Options{ChildrenOnly: true})
	defer r.Stop()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	// fd 0 closed, fd 1 the pipe, fd 2 closed: echo to 1 must arrive,
	// and fd 0 must not exist in the child.
	c, err := r.Spawn(Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "if [ -e /proc/self/fd/0 ]; then echo open; else echo closed; fi"}, Files: []*os.File{nil, pw, nil}})
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := pr.Read(buf)
	c.Wait()
	if got := string(buf[:n]); got != "closed\n" {
		t.Errorf("child said %q, want %q", got, "closed\n")
	}
}

func TestStopTwiceConcurrently(t *testing.T) {
	r := Start(Options{ChildrenOnly: true})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(r.Stop)
	}
	wg.Wait()
	r.Stop()
}

// TestPidfdAloneDelivers runs a reaper whose SIGCHLD loop never runs: the
// status must come through the child's pidfd alone.
func TestPidfdAloneDelivers(t *testing.T) {
	r := &Reaper{children: make(map[int]*Child)}
	c, err := r.Spawn(Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	watched := c.pidfd != nil
	r.mu.Unlock()
	if !watched {
		t.Skip("the kernel gave no pidfd")
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no status through the pidfd after 5 s")
	}
	if got := c.Status().Code(); got != 3 {
		t.Errorf("code %d, want 3", got)
	}
	if err := c.Signal(syscall.SIGTERM); err != ErrReaped {
		t.Errorf("Signal after reap: %v, want ErrReaped", err)
	}
	r.watchers.Wait()
	if r.Running() != 0 || r.Reaped() != 1 || r.Orphans() != 0 {
		t.Errorf("running %d, reaped %d, orphans %d; want 0, 1, 0", r.Running(), r.Reaped(), r.Orphans())
	}
}

// TestStopEndsWatchers stops a reaper while a child runs: Stop must return
// (its pidfd watcher ended), and the child's exit is not delivered.
func TestStopEndsWatchers(t *testing.T) {
	r := Start(Options{ChildrenOnly: true})
	c, err := r.Spawn(Cmd{Path: "/bin/sleep", Args: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() {
		r.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return within 5 s")
	}
	if err := syscall.Kill(c.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(c.Pid, &ws, 0, nil); err != nil {
		t.Fatalf("wait4 %d: %v", c.Pid, err)
	}
	select {
	case <-c.Done():
		t.Error("status delivered after Stop")
	default:
	}
}

func TestPidfdsAreBounded(t *testing.T) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = 1024 // a bound of 256 pidfds
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	r := Start(Options{ChildrenOnly: true})
	defer r.Stop()
	const n = 300
	children := make([]*Child, 0, n)
	for range n {
		c, err := r.Spawn(Cmd{Path: "/bin/sleep", Args: []string{"sleep", "60"}})
		if err != nil {
			t.Fatal(err)
		}
		children = append(children, c)
	}
	if w := r.watched.Load(); w != 256 {
		t.Errorf("%d pidfds open for %d children, want the bound, 256", w, n)
	}
	// Those beyond the bound are reaped on SIGCHLD: every status arrives.
	for _, c := range children {
		if err := c.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range children {
		select {
		case <-c.Done():
			if c.Status().Code() != 128+9 {
				t.Errorf("pid %d: %v", c.Pid, c.Status())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("pid %d: no status after 10 s", c.Pid)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.watched.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if w := r.watched.Load(); w != 0 {
		t.Errorf("%d pidfds still open after every child was reaped", w)
	}
}

// TestChildTimerSlack checks that a child starts with
// Options.ChildTimerSlack, not with the slack of init's threads, and that
// without the option it inherits the spawning thread's.
func TestChildTimerSlack(t *testing.T) {
	testutil.NeedRoot(t) // setting the process's slack takes CAP_SYS_NICE
	runtime.LockOSThread()
	old, err := timerslack.Thread()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	defer timerslack.SetProcess("/proc", old)
	const own, child = 3 * time.Millisecond, 70 * time.Microsecond
	if err := timerslack.SetProcess("/proc", own); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		slack, want time.Duration
	}{
		{0, own},
		{child, child},
	} {
		r := Start(Options{ChildrenOnly: true, ChildTimerSlack: tt.slack})
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		c, err := r.Spawn(Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "cat /proc/self/timerslack_ns"}, Files: []*os.File{nil, pw, os.Stderr}})
		pw.Close()
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(pr)
		pr.Close()
		c.Wait()
		r.Stop()
		if got := strings.TrimSpace(string(out)); got != strconv.FormatInt(tt.want.Nanoseconds(), 10) {
			t.Errorf("ChildTimerSlack %v: the child's slack is %q ns, want %d", tt.slack, got, tt.want.Nanoseconds())
		}
	}
	// The spawning threads went back to init's own slack.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if d, _ := timerslack.Thread(); d != own {
		t.Errorf("a thread of the process after the spawns: slack %v, want %v", d, own)
	}
}
