package timerslack

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/testutil"
)

func TestThreadRoundTrip(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := Thread()
	if err != nil {
		t.Fatal(err)
	}
	defer SetThread(old)
	for _, d := range []time.Duration{3 * time.Millisecond, 1, 70 * time.Microsecond} {
		if err := SetThread(d); err != nil {
			t.Fatal(err)
		}
		if got, err := Thread(); err != nil || got != d {
			t.Errorf("after SetThread(%v): Thread() = %v, %v", d, got, err)
		}
	}
	if err := SetThread(0); err == nil {
		t.Error("SetThread(0) was accepted; the kernel would read it as the default")
	}
}

// threadSlack reads the slack of thread tid of this process from /proc.
func threadSlack(t *testing.T, tid string) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + tid + "/timerslack_ns")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(n)
}

// TestSetProcessReachesEveryThread sets the slack of a process with
// threads parked by their goroutines and reads it back from each thread,
// through /proc and through the threads themselves; then it checks that a
// thread the runtime starts afterwards copies it.
func TestSetProcessReachesEveryThread(t *testing.T) {
	testutil.NeedRoot(t) // another thread's slack takes CAP_SYS_NICE
	runtime.LockOSThread()
	old, err := Thread()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	defer SetProcess("/proc", old)

	// Parked goroutines, each on a thread of its own.
	release := make(chan struct{})
	defer close(release)
	ready := make(chan struct{})
	const parked = 4
	for range parked {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ready <- struct{}{}
			<-release
		}()
	}
	for range parked {
		<-ready
	}

	const want = 3 * time.Millisecond
	if err := SetProcess("/proc", want); err != nil {
		t.Fatal(err)
	}
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	if len(tids) < parked+1 {
		t.Fatalf("%d threads, want at least %d", len(tids), parked+1)
	}
	for _, tid := range tids {
		if got := threadSlack(t, tid.Name()); got != want {
			t.Errorf("thread %s: slack %v, want %v", tid.Name(), got, want)
		}
	}

	// A thread started now copies the slack from its creator.
	got := make(chan time.Duration)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		d, _ := Thread()
		got <- d
	}()
	if d := <-got; d != want {
		t.Errorf("a goroutine's thread after SetProcess: slack %v, want %v", d, want)
	}
}

func TestSetProcessRefusesZero(t *testing.T) {
	if err := SetProcess("/proc", 0); err == nil {
		t.Error("SetProcess(0) was accepted")
	}
}
