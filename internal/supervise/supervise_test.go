package supervise

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/procstat"
	"github.com/ichi-init/ichi/internal/svstatus"
	"github.com/ichi-init/ichi/internal/tai64n"
)

// TestControlCommands sends every signal command and checks that ./run got
// the signal it stands for.
func TestControlCommands(t *testing.T) {
	r := newReaper(t)
	dir := service(t, map[string]string{"run": helperScript("signals")})
	rs := start(t, r, dir, nil)
	started := filepath.Join(dir, "started")
	waitFor(t, "helper started", 5*time.Second, func() bool { _, err := os.Stat(started); return err == nil })
	st := rs.sv.State()
	if !st.Up || st.Pid == 0 || st.Want != 'u' {
		t.Fatalf("state after start: %+v", st)
	}
	tests := []struct {
		cmd  byte
		want []string
	}{
		{'h', []string{"hangup"}},
		{'a', []string{"alarm clock"}},
		{'i', []string{"interrupt"}},
		{'t', []string{"terminated"}},
		{'q', []string{"quit"}},
		{'1', []string{"user defined signal 1"}},
		{'2', []string{"user defined signal 2"}},
		{'c', []string{"continued"}},
		{'d', []string{"terminated", "continued"}},
	}
	signals := filepath.Join(dir, "signals")
	got := 0
	for _, tc := range tests {
		rs.sv.Control(tc.cmd)
		want := got + len(tc.want)
		waitFor(t, "signal for "+string(tc.cmd), 5*time.Second, func() bool { return len(fileLines(signals)) >= want })
		lines := fileLines(signals)
		if !slices.Equal(lines[got:], tc.want) {
			t.Errorf("command %c: service got %q, want %q", tc.cmd, lines[got:], tc.want)
		}
		got = len(lines)
	}
	// 'd' leaves the TERM-ignoring helper running but wanted down. The
	// supervisor signals first and publishes after (as daemontools' does),
	// so the service may log the signals before the state says 'd'.
	st = waitState(t, rs.sv, "want down after d", func(s State) bool { return s.Want == 'd' })
	if !st.Up {
		t.Errorf("after d: %+v", st)
	}
	if s := readStatus(t, dir); s.Want == 'u' || !s.Term || s.State != svstatus.Run {
		t.Errorf("status after d: %+v", s)
	}

	// p stops the process, c continues it.
	pid := st.Pid
	rs.sv.Control('p')
	waitFor(t, "stopped process", 5*time.Second, func() bool { return procState(pid) == "T" })
	if s := waitState(t, rs.sv, "paused", func(s State) bool { return s.Paused }); !s.Paused {
		t.Error("not paused")
	}
	if s := readStatus(t, dir); !s.Paused {
		t.Errorf("status not paused: %+v", s)
	}
	rs.sv.Control('c')
	waitFor(t, "continued process", 5*time.Second, func() bool { return procState(pid) != "T" })

	// k kills; wanted down, so it stays down.
	rs.sv.Control('k')
	st = waitState(t, rs.sv, "down after k", func(s State) bool { return !s.Up })
	if !st.LastExit.Signaled() || st.LastExit.Signal() != syscall.SIGKILL || st.LastExit.Pid != pid {
		t.Errorf("LastExit after k = %v", st.LastExit)
	}
	if s := readStatus(t, dir); s.Pid != 0 || s.State != svstatus.Down || s.Term {
		t.Errorf("status after k: %+v", s)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "supervise", "stat")); string(b) != "down\n" {
		t.Errorf("stat = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "supervise", "pid")); len(b) != 0 {
		t.Errorf("pid = %q, want empty", b)
	}

	// u brings it back (the throttle may delay it by up to a second).
	rs.sv.Control('u')
	st = waitState(t, rs.sv, "up after u", func(s State) bool { return s.Up })
	if st.Restarts != 1 {
		t.Errorf("Restarts = %d, want 1", st.Restarts)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "supervise", "pid")); string(b) != strconv.Itoa(st.Pid)+"\n" {
		t.Errorf("pid file = %q, want %d", b, st.Pid)
	}

	// x with the service up does not stop it; d then ends the supervisor.
	rs.sv.Control('x')
	waitState(t, rs.sv, "exiting", func(s State) bool { return s.Exiting })
	select {
	case err := <-rs.err:
		t.Fatalf("Run returned %v while the service is up", err)
	case <-time.After(100 * time.Millisecond):
	}
	rs.sv.Control('d')
	// The helper ignores TERM (it records it), so kill it.
	rs.sv.Control('k')
	select {
	case err := <-rs.err:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after x and the service went down")
	}
}

// procState returns the state letter of /proc/PID/stat ("" when gone).
func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	f := procstat.Fields(b)
	if len(f) <= procstat.State {
		return ""
	}
	return f[procstat.State][:1]
}

// TestThrottle: a ./run that exits at once is restarted, but never twice
// within a second.
func TestThrottle(t *testing.T) {
	r := newReaper(t)
	dir := service(t, map[string]string{"run": "#!/bin/sh\ndate +%s.%N >> starts\n"})
	rs := start(t, r, dir, nil)
	starts := filepath.Join(dir, "starts")
	waitFor(t, "three starts", 8*time.Second, func() bool { return len(fileLines(starts)) >= 3 })
	var prev float64
	for i, l := range fileLines(starts) {
		v, err := strconv.ParseFloat(l, 64)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && v-prev < 0.99 {
			t.Errorf("start %d came %.3fs after the previous one", i, v-prev)
		}
		prev = v
	}
	st := waitState(t, rs.sv, "two restarts", func(s State) bool { return s.Restarts >= 2 && s.LastExit.Pid != 0 })
	if st.LastExit.ExitStatus() != 0 || st.Want != 'u' {
		t.Errorf("state: %+v", st)
	}
}

// TestFinish checks ./finish's arguments: exit code and 0, -1 and the
// signal, 111 and 0 for a ./run that cannot start.
func TestFinish(t *testing.T) {
	tests := []struct {
		name string
		run  string // "" for none
		cmd  byte
		want string
	}{
		{"exit 3", "#!/bin/sh\nsleep 0.05\nexit 3\n", 0, "3 0"},
		{"killed", "#!/bin/sh\nexec sleep 100\n", 'k', "-1 9"},
		{"terminated", "#!/bin/sh\nexec sleep 100\n", 'd', "-1 15"},
		{"no run", "", 0, "111 0"},
	}
	r := newReaper(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"finish": "#!/bin/sh\necho \"$@\" >> finished\nsleep 0.2\n"}
			if tc.run != "" {
				files["run"] = tc.run
			}
			dir := service(t, files)
			rs := start(t, r, dir, nil)
			if tc.cmd != 0 {
				waitState(t, rs.sv, "up", func(s State) bool { return s.Up })
				rs.sv.Control(tc.cmd)
			}
			st := waitState(t, rs.sv, "finish running", func(s State) bool { return s.Finishing })
			if s := readStatus(t, dir); s.State != svstatus.Finish || s.Pid != st.Pid {
				t.Errorf("status during finish: %+v (state %+v)", s, st)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "supervise", "stat")); !strings.HasPrefix(string(b), "finish") {
				t.Errorf("stat during finish = %q", b)
			}
			finished := filepath.Join(dir, "finished")
			waitFor(t, "finish wrote", 5*time.Second, func() bool { return len(fileLines(finished)) > 0 })
			if got := fileLines(finished)[0]; got != tc.want {
				t.Errorf("./finish got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRunMissing: a service without an executable ./run is reported, retried
// once a second, comes up when ./run appears, and does not disturb another
// supervisor.
func TestRunMissing(t *testing.T) {
	r := newReaper(t)
	good := service(t, map[string]string{"run": "#!/bin/sh\nexec sleep 100\n"})
	goodRS := start(t, r, good, nil)
	goodPid := waitState(t, goodRS.sv, "good up", func(s State) bool { return s.Up }).Pid

	for _, tc := range []struct {
		name  string
		files map[string]string
		err   string
	}{
		{"missing", map[string]string{}, "no such file or directory"},
		{"not executable", map[string]string{"run.txt": "#!/bin/sh\nexec sleep 100\n"}, "permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := service(t, tc.files)
			if tc.name == "not executable" {
				os.Rename(filepath.Join(dir, "run.txt"), filepath.Join(dir, "run"))
			}
			rs := start(t, r, dir, nil)
			want := "unable to start " + dir + "/run: " + tc.err
			waitFor(t, "two attempts logged", 5*time.Second, func() bool {
				return strings.Count(rs.logs.String(), want) >= 2
			})
			if st := rs.sv.State(); st.Up || st.LastExit.ExitStatus() != 111 {
				t.Errorf("state: %+v", st)
			}
			os.WriteFile(filepath.Join(dir, "run.new"), []byte("#!/bin/sh\nexec sleep 100\n"), 0o755)
			os.Rename(filepath.Join(dir, "run.new"), filepath.Join(dir, "run"))
			waitState(t, rs.sv, "up once run exists", func(s State) bool { return s.Up })
		})
	}
	if st := goodRS.sv.State(); !st.Up || st.Pid != goodPid {
		t.Errorf("the other service was disturbed: %+v (pid was %d)", st, goodPid)
	}
}

// TestDownFileAndOnce: with a down file nothing starts; o runs ./run once.
func TestDownFileAndOnce(t *testing.T) {
	r := newReaper(t)
	dir := service(t, map[string]string{"run": "#!/bin/sh\necho run >> runs\nsleep 0.2\n", "down": ""})
	rs := start(t, r, dir, nil)
	time.Sleep(200 * time.Millisecond)
	if st := rs.sv.State(); st.Up || st.Want != 'd' {
		t.Fatalf("started despite down file: %+v", st)
	}
	if s := readStatus(t, dir); s.Want == 'u' || s.Pid != 0 {
		t.Errorf("status: %+v", s)
	}
	rs.sv.Control('o')
	st := waitState(t, rs.sv, "up once", func(s State) bool { return s.Up })
	if st.Want != 'o' {
		t.Errorf("Want = %c", st.Want)
	}
	if s := readStatus(t, dir); s.Want == 'u' || s.State != svstatus.Run {
		t.Errorf("status during once: %+v", s)
	}
	waitState(t, rs.sv, "down after once", func(s State) bool { return !s.Up && s.LastExit.Pid != 0 })
	time.Sleep(1500 * time.Millisecond)
	if n := len(fileLines(filepath.Join(dir, "runs"))); n != 1 {
		t.Errorf("./run ran %d times under once, want 1", n)
	}
}

// TestExitWhenDown: x on a service that is down ends Run at once.
func TestExitWhenDown(t *testing.T) {
	r := newReaper(t)
	dir := service(t, map[string]string{"run": "#!/bin/sh\nexec sleep 100\n", "down": ""})
	rs := start(t, r, dir, nil)
	rs.sv.Control('x')
	select {
	case err := <-rs.err:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	<-rs.sv.Done()
	// The lock is free again: a new supervisor can take the directory.
	sv, err := New(Config{Dir: dir, Reaper: r})
	if err != nil {
		t.Fatal(err)
	}
	sv.Shutdown()
}

// TestShutdown: TERM first, KILL after KillAfter for a service that ignores
// TERM; Shutdown returns when it is down; cancelling Run's context does the
// same.
func TestShutdown(t *testing.T) {
	r := newReaper(t)
	t.Run("Shutdown", func(t *testing.T) {
		dir := service(t, map[string]string{"run": helperScript("signals")})
		rs := start(t, r, dir, func(c *Config) { c.KillAfter = 300 * time.Millisecond })
		waitFor(t, "helper started", 5*time.Second, func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil })
		rs.sv.Shutdown()
		st := rs.sv.State()
		if st.Up || !st.LastExit.Signaled() || st.LastExit.Signal() != syscall.SIGKILL {
			t.Errorf("after Shutdown: %+v", st)
		}
		// TERM is sent before CONT, but the two may reach two threads of
		// the helper and be recorded in either order.
		got := fileLines(filepath.Join(dir, "signals"))
		slices.Sort(got)
		if !slices.Equal(got, []string{"continued", "terminated"}) {
			t.Errorf("service got %q before KILL", got)
		}
		if err := <-rs.err; err != nil {
			t.Error(err)
		}
	})
	t.Run("context", func(t *testing.T) {
		dir := service(t, map[string]string{"run": "#!/bin/sh\nexec sleep 100\n"})
		sv, err := New(Config{Dir: dir, Reaper: r})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- sv.Run(ctx) }()
		waitState(t, sv, "up", func(s State) bool { return s.Up })
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		if st := sv.State(); st.Up || st.LastExit.Signal() != syscall.SIGTERM {
			t.Errorf("after cancel: %+v", st)
		}
		if err := sv.Run(context.Background()); err == nil {
			t.Error("second Run did not fail")
		}
	})
	t.Run("before Run", func(t *testing.T) {
		dir := service(t, map[string]string{"run": "#!/bin/sh\nexec sleep 100\n"})
		sv, err := New(Config{Dir: dir, Reaper: r})
		if err != nil {
			t.Fatal(err)
		}
		sv.Shutdown()
		<-sv.Done()
		if err := sv.Run(context.Background()); err == nil {
			t.Error("Run after Shutdown did not fail")
		}
	})
}

// TestLock: a second supervisor on the same directory fails with
// daemontools' message.
func TestLock(t *testing.T) {
	r := newReaper(t)
	dir := service(t, map[string]string{"run": "#!/bin/sh\nexec sleep 100\n", "down": ""})
	start(t, r, dir, nil)
	_, err := New(Config{Dir: dir, Reaper: r})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second New: %v, want ErrLocked", err)
	}
	want := "unable to acquire " + dir + "/supervise/lock: temporary failure"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	// The failed supervisor left the holder's files alone.
	if _, err := os.Lstat(filepath.Join(dir, "supervise", "lock")); err != nil {
		t.Errorf("supervise/lock after the second New failed: %v", err)
	}
	if _, err := New(Config{Dir: dir, Reaper: r}); !errors.Is(err, ErrLocked) {
		t.Errorf("third New: %v, want ErrLocked", err)
	}
}

// TestSuperviseDirModes: supervise/ is 0700, the FIFOs 0600.
func TestSuperviseDirModes(t *testing.T) {
	r := newReaper(t)
	dir := service(t, map[string]string{"run": "#!/bin/sh\nexec sleep 100\n", "down": ""})
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	start(t, r, dir, nil)
	for name, want := range map[string]os.FileMode{
		"supervise":         os.ModeDir | 0o700,
		"supervise/control": os.ModeNamedPipe | 0o600,
		"supervise/ok":      os.ModeNamedPipe | 0o600,
		"supervise/lock":    os.ModeNamedPipe | 0o600,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
	}
}

// TestSuperviseSymlink: supervise may be a symlink to a directory that does
// not exist yet (runit keeps them on a tmpfs).
func TestSuperviseSymlink(t *testing.T) {
	r := newReaper(t)
	dir := service(t, map[string]string{"run": "#!/bin/sh\nexec sleep 100\n", "down": ""})
	target := filepath.Join(t.TempDir(), "supervise.svc")
	if err := os.Symlink(target, filepath.Join(dir, "supervise")); err != nil {
		t.Fatal(err)
	}
	start(t, r, dir, nil)
	if _, err := os.Stat(filepath.Join(target, "status")); err != nil {
		t.Fatal(err)
	}
}

// TestEnvDir: env/ is applied to ./run's environment, over Config.Env.
func TestEnvDir(t *testing.T) {
	r := newReaper(t)
	dir := service(t, map[string]string{
		"run":       "#!/bin/sh\necho \"$FOO|$BAR|${GONE-unset}|$NOTIFY_SOCKET\" > env.out\nexec sleep 100\n",
		"env/FOO":   "foo value  \nsecond line\n",
		"env/BAR":   "a\x00b",
		"env/GONE":  "",
		"env/.skip": "x",
	})
	start(t, r, dir, func(c *Config) { c.Env = append(c.Env, "GONE=base", "FOO=base") })
	out := filepath.Join(dir, "env.out")
	waitFor(t, "env.out", 5*time.Second, func() bool { return len(fileLines(out)) >= 2 })
	got := strings.Join(fileLines(out), "\n")
	want := "foo value|a\nb|unset|" + filepath.Join(dir, "supervise", "notify")
	if got != want {
		t.Errorf("./run saw %q, want %q", got, want)
	}
}

// TestReadiness covers both conventions, and that a notification from a
// process outside the service is ignored.
func TestReadiness(t *testing.T) {
	r := newReaper(t)
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"notification-fd", map[string]string{
			"run":             "#!/bin/sh\nsleep 0.2\necho >&5\nexec sleep 100\n",
			"notification-fd": "5\n",
		}},
		{"NOTIFY_SOCKET", map[string]string{"run": helperScript("notify")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := service(t, tc.files)
			rs := start(t, r, dir, nil)
			st := waitState(t, rs.sv, "up", func(s State) bool { return s.Up })
			if st.Ready {
				t.Fatal("ready at once")
			}
			st = waitState(t, rs.sv, "ready", func(s State) bool { return s.Ready })
			b, err := os.ReadFile(filepath.Join(dir, "supervise", "ready"))
			if err != nil {
				t.Fatal(err)
			}
			if when, err := tai64n.Parse(b); err != nil || !when.Equal(st.ReadySince) {
				t.Errorf("ready file %q (%v), ReadySince %v", b, err, st.ReadySince)
			}
			rs.sv.Control('d')
			waitState(t, rs.sv, "down and not ready", func(s State) bool { return !s.Up && !s.Ready })
			if _, err := os.Stat(filepath.Join(dir, "supervise", "ready")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("ready file after down: %v", err)
			}
		})
	}
	t.Run("stranger", func(t *testing.T) {
		dir := service(t, map[string]string{"run": "#!/bin/sh\nexec sleep 100\n"})
		rs := start(t, r, dir, nil)
		waitState(t, rs.sv, "up", func(s State) bool { return s.Up })
		c, err := listenNotifyDial(filepath.Join(dir, "supervise", "notify"))
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("READY=1\n"))
		c.Close()
		time.Sleep(200 * time.Millisecond)
		if rs.sv.State().Ready {
			t.Error("a datagram from outside the service made it ready")
		}
	})
}

// TestNoLeak: a supervisor that ended leaves no goroutine behind.
func TestNoLeak(t *testing.T) {
	r := newReaper(t)
	before := runtime.NumGoroutine()
	for i := 0; i < 3; i++ {
		dir := service(t, map[string]string{"run": "#!/bin/sh\nsleep 0.1\necho >&3\nexec sleep 100\n", "notification-fd": "3"})
		sv, err := New(Config{Dir: dir, Reaper: r})
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- sv.Run(context.Background()) }()
		waitState(t, sv, "up", func(s State) bool { return s.Up })
		sv.Shutdown()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "goroutines to end", 5*time.Second, func() bool { return runtime.NumGoroutine() <= before })
}

// TestKillFinish: k ends a ./finish that hangs.
func TestKillFinish(t *testing.T) {
	r := newReaper(t)
	dir := service(t, map[string]string{"run": "#!/bin/sh\nexit 2\n", "finish": "#!/bin/sh\nexec sleep 100\n"})
	rs := start(t, r, dir, nil)
	st := waitState(t, rs.sv, "finish running", func(s State) bool { return s.Finishing })
	rs.sv.Control('d')
	rs.sv.Control('k')
	waitState(t, rs.sv, "down", func(s State) bool { return !s.Finishing && !s.Up })
	if procState(st.Pid) != "" {
		t.Errorf("./finish (pid %d) still running", st.Pid)
	}
}

// TestHistory: supervise/ichi says "restarts=0" from the start; when ./run
// ends, how it ended, before ./finish runs and before the status says ./run
// is gone; when ./run starts again, the new count of restarts.
func TestHistory(t *testing.T) {
	tests := []struct {
		name  string
		first string // what the first ./run does; later ones sleep
		end   string // the history's word for it
	}{
		{"exit code", "exit 3", "exit=3"},
		{"exit 0", "exit 0", "exit=0"},
		{"signal", "kill -USR1 $$", "signal=10"},
	}
	r := newReaper(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := service(t, map[string]string{
				"run":    "#!/bin/sh\nif [ -e ran ]; then exec sleep 100; fi\n: > ran\n" + tc.first + "\n",
				"finish": "#!/bin/sh\ncat supervise/ichi > finish.saw\n",
				"down":   "",
			})
			history := filepath.Join(dir, "supervise", "ichi")
			sv, err := New(Config{Dir: dir, Reaper: r, Env: []string{"PATH=/usr/bin:/bin"}})
			if err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(history); err != nil || string(b) != "restarts=0\n" {
				t.Errorf("history after New = %q, %v; want \"restarts=0\\n\"", b, err)
			}
			sv.Shutdown()
			rs := start(t, r, dir, nil)
			rs.sv.Control('u')
			st := waitState(t, rs.sv, "restarted", func(s State) bool { return s.Up && s.Restarts == 1 })
			if b, err := os.ReadFile(history); err != nil || string(b) != "restarts=1 "+tc.end+"\n" {
				t.Errorf("history = %q, %v; want %q", b, err, "restarts=1 "+tc.end+"\n")
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "finish.saw")); string(b) != "restarts=0 "+tc.end+"\n" {
				t.Errorf("./finish saw history %q, want %q", b, "restarts=0 "+tc.end+"\n")
			}
			h, ok, err := svstatus.ReadHistory(dir)
			if !ok || err != nil || h != svstatus.HistoryOf(int(st.Restarts), st.LastExit.WaitStatus) {
				t.Errorf("ReadHistory = %+v, %v, %v; state %+v", h, ok, err, st)
			}
		})
	}
}

// TestEnvDirUnreadable: a ./run whose env/ cannot be read is not started
// (without the environment it is configured with); it counts as exit 111.
func TestEnvDirUnreadable(t *testing.T) {
	r := newReaper(t)
	dir := service(t, map[string]string{
		"run":    "#!/bin/sh\n: > started\nexec sleep 100\n",
		"env":    "a file, not a directory",
		"finish": "#!/bin/sh\necho \"$@\" > finished\n",
	})
	rs := start(t, r, dir, nil)
	// The failed start is published with LastExit set; a ./finish (which
	// must not run) would end before Finishing is false again.
	waitState(t, rs.sv, "failed start", func(s State) bool { return s.LastExit.ExitStatus() == 111 })
	waitState(t, rs.sv, "no ./finish", func(s State) bool { return !s.Finishing })
	if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
		t.Error("./run started without its env/")
	}
	// ./finish needs the same environment: it does not run either.
	if _, err := os.Stat(filepath.Join(dir, "finished")); err == nil {
		t.Error("./finish ran without its env/")
	}
	if logs := rs.logs.String(); !strings.Contains(logs, "unable to start "+dir+"/run: unable to switch to directory "+dir+"/env: not a directory") {
		t.Errorf("logs: %q", logs)
	}
}
