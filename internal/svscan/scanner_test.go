package svscan

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartsEverySubdirectoryButDotDirectories(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	for _, name := range []string{"a", "b", ".hidden"} {
		writeService(t, filepath.Join(dir, name), "echo x > started; exec sleep 1000")
	}
	writeService(t, filepath.Join(outside, "linked"), "echo x > started; exec sleep 1000")
	if err := os.Symlink(filepath.Join(outside, "linked"), filepath.Join(dir, "c")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "plainfile"), "not a service\n", 0o644)
	r := startScanner(t, dir, Config{})
	for _, p := range []string{"a", "b", "c"} {
		waitFor(t, 5*time.Second, p+" up", func() bool { return r.up(p) })
	}
	waitFor(t, 5*time.Second, "markers", func() bool {
		return exists(filepath.Join(dir, "a/started")) && exists(filepath.Join(outside, "linked/started"))
	})
	if exists(filepath.Join(dir, ".hidden/started")) || exists(filepath.Join(dir, ".hidden/supervise")) {
		t.Error(".hidden was started")
	}
	names := []string{}
	for _, st := range r.sc.Statuses() {
		names = append(names, st.Name)
	}
	if got := strings.Join(names, ","); got != "a,b,c" {
		t.Errorf("Statuses names = %s, want a,b,c", got)
	}
}

func TestBrokenDirectoriesAreIsolatedAndReportedOnce(t *testing.T) {
	dir := t.TempDir()
	writeService(t, filepath.Join(dir, "good"), "exec sleep 1000")
	tests := []struct {
		name, problem string
		make          func(d string)
	}{
		{"norun", "no run", func(d string) { os.MkdirAll(d, 0o755) }},
		{"notexec", "run is not executable", func(d string) {
			writeFile(t, filepath.Join(d, "run"), "#!/bin/sh\nexec sleep 1000\n", 0o644)
		}},
		{"rundir", "run is not a regular file", func(d string) { os.MkdirAll(filepath.Join(d, "run"), 0o755) }},
		{"emptylog", "log/ has neither run nor multilog", func(d string) {
			writeService(t, d, "exec sleep 1000")
			os.MkdirAll(filepath.Join(d, "log"), 0o755)
		}},
		{"lognotexec", "log/run is not executable", func(d string) {
			writeService(t, d, "exec sleep 1000")
			writeFile(t, filepath.Join(d, "log/run"), "#!/bin/sh\nexec cat\n", 0o644)
		}},
		{"logfile", "log is not a directory", func(d string) {
			writeService(t, d, "exec sleep 1000")
			writeFile(t, filepath.Join(d, "log"), "x", 0o644)
		}},
		{"badscript", "no log directory", func(d string) {
			writeService(t, d, "exec sleep 1000")
			writeFile(t, filepath.Join(d, "log/multilog"), "t s100000\n", 0o644)
		}},
		{"dangling", "dangling symbolic link", func(d string) {
			os.Symlink(filepath.Join(dir, "nowhere"), d)
		}},
	}
	for _, tt := range tests {
		tt.make(filepath.Join(dir, tt.name))
	}
	// A service that dies at once, forever: supervise throttles it; the
	// scanner neither stops it nor lets it disturb the others. One whose
	// run cannot even be executed makes supervise complain at every try:
	// the complaint is passed on once.
	writeService(t, filepath.Join(dir, "dies"), "exit 1")
	writeFile(t, filepath.Join(dir, "noexec/run"), "#!/nonexistent/interpreter\n", 0o755)
	r := startScanner(t, dir, Config{RescanInterval: 50 * time.Millisecond})
	waitFor(t, 5*time.Second, "good up", func() bool { return r.up("good") })
	waitFor(t, 5*time.Second, "dies restarted", func() bool {
		st, ok := r.status("dies")
		return ok && st.Service != nil && st.Service.Restarts >= 1
	})
	waitFor(t, 5*time.Second, "noexec tried three times", func() bool {
		st, ok := r.status("noexec")
		return ok && st.Service != nil && st.Service.Restarts >= 2
	})
	if n := r.msgs.count("unable to start " + filepath.Join(dir, "noexec")); n != 1 {
		t.Errorf("noexec's failure reported %d times, want once\n%s", n, r.msgs)
	}
	for _, tt := range tests {
		st, ok := r.status(tt.name)
		if !ok || !strings.Contains(st.Problem, tt.problem) || st.Service != nil {
			t.Errorf("%s: status %+v, want problem %q and no supervisor", tt.name, st, tt.problem)
		}
		if n := r.msgs.count(filepath.Join(dir, tt.name) + ": not started"); n != 1 {
			t.Errorf("%s: reported %d times, want once\n%s", tt.name, n, r.msgs)
		}
	}
	if !r.up("good") {
		t.Error("good is not up")
	}
	// Fixing a broken directory starts it, without a restart of the scanner.
	if err := os.Chmod(filepath.Join(dir, "notexec/run"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "notexec up after chmod", func() bool { return r.up("notexec") })
	if st, _ := r.status("notexec"); st.Problem != "" {
		t.Errorf("notexec: problem %q after the fix", st.Problem)
	}
}

func TestHalfMadeDirectoryStartsOnlyWhenComplete(t *testing.T) {
	dir := t.TempDir()
	// Inotify only: no periodic rescan may hide a missed event.
	r := startScanner(t, dir, Config{RescanInterval: -1})
	svc := filepath.Join(dir, "svc")
	if err := os.Mkdir(svc, 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	writeFile(t, filepath.Join(svc, "run"), "#!/bin/sh\necho x > started\nexec sleep 1000\n", 0o644)
	time.Sleep(50 * time.Millisecond)
	if exists(filepath.Join(svc, "supervise")) {
		t.Fatal("a directory whose run is not executable was started")
	}
	if err := os.Mkdir(filepath.Join(svc, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(svc, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if exists(filepath.Join(svc, "supervise")) {
		t.Fatal("started while log/ had no logger")
	}
	writeFile(t, filepath.Join(svc, "log/multilog"), "t ./main\n", 0o644)
	waitFor(t, 2*time.Second, "svc up with its logger", func() bool { return r.up("svc") })
	if st, _ := r.status("svc"); st.Logger != LogMultilog {
		t.Errorf("logger %v, want %v", st.Logger, LogMultilog)
	}
	if n := r.sc.watch.watching(); n != 1 {
		t.Errorf("%d inotify watches once started, want 1 (the scan directory)", n)
	}
}

func TestMovedInDirectoryStartsAtOnce(t *testing.T) {
	dir := t.TempDir()
	staging := filepath.Join(dir, ".staging")
	r := startScanner(t, dir, Config{RescanInterval: -1})
	const n = 5
	var worst time.Duration
	for i := range n {
		name := "moved" + string(rune('a'+i))
		writeService(t, filepath.Join(staging, name), "echo x > started; exec sleep 1000")
		start := time.Now()
		if err := os.Rename(filepath.Join(staging, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		marker := filepath.Join(dir, name, "started")
		waitFor(t, 5*time.Second, name+" started", func() bool { return exists(marker) })
		d := time.Since(start)
		worst = max(worst, d)
		t.Logf("%s: run's marker %v after the mv", name, d)
	}
	// The bound (100 ms) is measured by the bench; the test proves that the
	// pickup needs no rescan (RescanInterval is off).
	t.Logf("worst of %d: %v", n, worst)
	_ = r
}

func TestRemovedServiceIsStoppedAndReleased(t *testing.T) {
	for _, mode := range []struct {
		name string
		ca   CatchAll
	}{
		{"inherit", CatchAll{}},
		{"prefix", CatchAll{Console: &syncBuffer{}, Prefix: true}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			staging := filepath.Join(dir, ".staging")
			r := startScanner(t, dir, Config{RescanInterval: -1, CatchAll: mode.ca, KillAfter: time.Second})
			// The baseline: the scanner running, with no service.
			time.Sleep(50 * time.Millisecond)
			fds0, gs0 := fdTargets(t), runtime.NumGoroutine()
			for i := range 3 {
				base := filepath.Join(staging, "svc"+string(rune('0'+i)))
				writeService(t, base+"plain", "echo hello; exec sleep 1000")
				writeService(t, base+"ml", "echo hello; exec sleep 1000")
				writeFile(t, filepath.Join(base+"ml", "log/multilog"), "t ./main\n", 0o644)
				writeService(t, base+"ext", "echo hello; exec sleep 1000")
				writeFile(t, filepath.Join(base+"ext", "log/run"), "#!/bin/sh\nexec cat > out\n", 0o755)
			}
			ents, _ := os.ReadDir(staging)
			for _, e := range ents {
				os.Rename(filepath.Join(staging, e.Name()), filepath.Join(dir, e.Name()))
			}
			pids := map[string]int{}
			for _, e := range ents {
				waitFor(t, 5*time.Second, e.Name()+" up", func() bool { return r.up(e.Name()) })
				st, _ := r.status(e.Name())
				pids[e.Name()] = st.Service.Pid
			}
			if fdDiff(fds0, fdTargets(t)) == "" || runtime.NumGoroutine() <= gs0 {
				t.Fatalf("no descriptor or goroutine more with services than without")
			}
			// Moved out of the scan directory (into a dot directory):
			// gone, as far as the scanner is concerned.
			for _, e := range ents {
				if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(staging, e.Name())); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, 10*time.Second, "every service released", func() bool {
				return len(r.sc.Statuses()) == 0 && fdDiff(fds0, fdTargets(t)) == "" && runtime.NumGoroutine() <= gs0
			})
			for name, pid := range pids {
				if err := syscall.Kill(pid, 0); err == nil {
					t.Errorf("%s: pid %d still exists", name, pid)
				}
			}
			if n := r.sc.watch.watching(); n != 1 {
				t.Errorf("%d inotify watches left, want 1", n)
			}
		})
	}
}

// TestLogAddedToRunningService: a log/ added to a service that runs without
// one is taken at the next full rescan, here asked for through the control
// FIFO (svscanctl): the service restarts with its output in the new log.
func TestLogAddedToRunningService(t *testing.T) {
	dir := t.TempDir()
	svc := filepath.Join(dir, "svc")
	writeService(t, svc, "echo started $$; exec sleep 1000")
	console := &syncBuffer{}
	r := startScanner(t, dir, Config{RescanInterval: -1, CatchAll: CatchAll{Console: console, Prefix: true}})
	waitFor(t, 5*time.Second, "svc up", func() bool { return r.up("svc") })
	first, _ := r.status("svc")
	writeFile(t, filepath.Join(svc, "log/multilog"), "./main\n", 0o644)
	time.Sleep(50 * time.Millisecond)
	if st, _ := r.status("svc"); st.Logger != LogNone || st.Service.Pid != first.Service.Pid {
		t.Fatalf("changed before any rescan: %+v", st)
	}
	if err := RequestRescan(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "svc restarted with its logger", func() bool {
		st, ok := r.status("svc")
		return ok && st.Logger == LogMultilog && r.up("svc")
	})
	second, _ := r.status("svc")
	if second.Service.Pid == first.Service.Pid {
		t.Error("the service was not restarted")
	}
	want := "started " + strconv.Itoa(second.Service.Pid) + "\n"
	waitFor(t, 5*time.Second, "output in the new log", func() bool {
		b, _ := os.ReadFile(filepath.Join(svc, "log/main/current"))
		return strings.HasSuffix(string(b), want)
	})
	if !strings.Contains(console.String(), "svc: started "+strconv.Itoa(first.Service.Pid)) {
		t.Errorf("the first run's output is not in the catch-all: %q", console.String())
	}
}

func TestSecondScannerOnOneDirectoryFails(t *testing.T) {
	dir := t.TempDir()
	startScanner(t, dir, Config{})
	waitFor(t, 5*time.Second, "lock", func() bool { return exists(filepath.Join(dir, ControlDir, "lock")) })
	time.Sleep(20 * time.Millisecond)
	sc, err := New(Config{Dir: dir, Reaper: testReaper, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	err = sc.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "another scanner runs on this directory") {
		t.Errorf("second Run: %v, want the lock error", err)
	}
	if err := RequestRescan(t.TempDir()); err == nil {
		t.Error("RequestRescan on a directory without a scanner succeeded")
	}
}
