package svscan

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTenThousandServices runs 10,000 services under one scanner: each
// ./run is a tiny static program that pauses (a symlink to it), so the
// processes cost a few pages each. Every service must come up, and the
// shutdown must stop all of them and release everything.
func TestTenThousandServices(t *testing.T) {
	n := 10000
	if v := os.Getenv("SVSCAN_MANY"); v != "" {
		fmt.Sscan(v, &n)
	}
	if testing.Short() {
		t.Skip("10,000 processes: not in -short")
	}
	// A service costs one descriptor of its own: its supervisor's control
	// FIFO (which is also supervise/ok and supervise/lock; the notification
	// socket is the scanner's, shared). The reaper adds a pidfd per running
	// ./run, but keeps at most a quarter of the soft RLIMIT_NOFILE open and
	// reaps the rest on SIGCHLD. Without CAP_SYS_RESOURCE the hard limit
	// cannot be raised; 10,000 services fit under a hard limit of 20,000.
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	old := lim
	needFor := func(hard uint64) uint64 { return uint64(n) + min(uint64(n), hard/4) + 512 }
	if lim.Max < needFor(lim.Max) {
		want := lim
		want.Max = uint64(n)*2 + 512
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
			n = int(lim.Max - lim.Max/4 - 512)
			t.Logf("RLIMIT_NOFILE's hard limit %d cannot be raised (%v): running %d services instead", lim.Max, err, n)
		} else {
			lim = want
		}
	}
	lim.Cur = lim.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) })
	work := t.TempDir()
	prog := pauseProgram(t, filepath.Join(work, "pause"))
	if prog == "" {
		t.Skip("the pause program is built for amd64 only")
	}
	dir := filepath.Join(work, "service")
	start := time.Now()
	for i := range n {
		d := filepath.Join(dir, fmt.Sprintf("s%05d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(prog, filepath.Join(d, "run")); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d service directories made in %v", n, time.Since(start))
	fds0 := fdTargets(t)
	base := openFDs(t)
	start = time.Now()
	r := startScanner(t, dir, Config{RescanInterval: -1, KillAfter: 10 * time.Second})
	waitFor(t, 5*time.Minute, "every service up", func() bool {
		up := 0
		for _, st := range r.sc.Statuses() {
			if st.Service != nil && st.Service.Up {
				up++
			}
		}
		if up < n {
			time.Sleep(200 * time.Millisecond)
		}
		return up == n
	})
	fds := openFDs(t)
	t.Logf("%d services up in %v; %d descriptors, %.2f per service", n, time.Since(start), fds, float64(fds-base)/float64(n))
	start = time.Now()
	r.stop(t)
	t.Logf("stopped in %v", time.Since(start))
	if left := testReaper.Running(); left != 0 {
		t.Errorf("%d processes still running after the shutdown", left)
	}
	if diff := fdDiff(fds0, fdTargets(t)); diff != "" {
		t.Errorf("descriptors left after the shutdown: %s", diff)
	}
}
