package svctl

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/svstatus"
	"github.com/ichi-init/ichi/internal/testutil"
	"golang.org/x/sys/unix"
)

var (
	longAgo = time.Now().Add(-time.Hour)
	upRun   = svstatus.Status{Since: longAgo, Pid: 100, Want: 'u', State: svstatus.Run}
	down    = svstatus.Status{Since: longAgo, Want: 'd', State: svstatus.Down}
	finish  = svstatus.Status{Since: longAgo, Pid: 101, Want: 'u', State: svstatus.Finish}
)

// waitDirs makes fake supervised services under root, one per status, named
// by the map's keys; the ready map gives each a supervise/ready time.
func waitDirs(t *testing.T, root string, states map[string]svstatus.Status, ready map[string]time.Time) {
	t.Helper()
	for name, st := range states {
		dir := filepath.Join(root, name)
		newFake(t, dir)
		writeStatus(t, dir, st, svstatus.RunitSize)
		if at, ok := ready[name]; ok {
			if err := svstatus.WriteReady(dir, at); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestSvwait(t *testing.T) {
	root := t.TempDir()
	waitDirs(t, root, map[string]svstatus.Status{
		"up": upRun, "down": down, "finish": finish,
		"ready": upRun, "stale": upRun, "downready": down,
	}, map[string]time.Time{
		"ready":     longAgo.Add(time.Second),
		"stale":     longAgo.Add(-time.Second),
		"downready": longAgo.Add(time.Second),
	})
	dead := filepath.Join(root, "dead", "supervise")
	os.MkdirAll(dead, 0o700)
	unix.Mkfifo(filepath.Join(dead, "ok"), 0o600)
	os.MkdirAll(filepath.Join(root, "bare"), 0o755)

	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{nil, 0, ""},
		{[]string{"up"}, 0, ""},
		{[]string{"-u", "up"}, 0, ""},
		{[]string{"-u", "-t", "50", "down"}, WaitTimedOut, "svwait: fatal: timed out\n"},
		{[]string{"-u", "-t", "50", "finish"}, WaitTimedOut, "svwait: fatal: timed out\n"},
		{[]string{"-d", "down"}, 0, ""},
		{[]string{"-d", "finish"}, 0, ""},
		{[]string{"-D", "-t50", "finish"}, WaitTimedOut, "svwait: fatal: timed out\n"},
		{[]string{"-D", "down"}, 0, ""},
		{[]string{"-d", "-t", "50", "up"}, WaitTimedOut, "svwait: fatal: timed out\n"},
		{[]string{"-U", "ready"}, 0, ""},
		{[]string{"-U", "-t", "50", "up"}, WaitTimedOut, "svwait: fatal: timed out\n"},
		{[]string{"-U", "-t", "50", "stale"}, WaitTimedOut, "svwait: fatal: timed out\n"},
		{[]string{"-U", "-t", "50", "downready"}, WaitTimedOut, "svwait: fatal: timed out\n"},
		{[]string{"-u", "up", "ready"}, 0, ""},
		{[]string{"-u", "-t", "50", "up", "down"}, WaitTimedOut, "svwait: fatal: timed out\n"},
		{[]string{"-u", "-a", "-t", "50", "up", "down"}, WaitTimedOut, "svwait: fatal: timed out\n"},
		{[]string{"-u", "-o", "down", "up"}, 0, ""},
		{[]string{"-o", "-a", "-t", "50", "down", "up"}, WaitTimedOut, "svwait: fatal: timed out\n"},
		{[]string{"-d", "dead"}, WaitNoSupervisor, "svwait: fatal: dead: supervise not running\n"},
		{[]string{"-d", "bare"}, WaitNoSupervisor, "svwait: fatal: bare: supervise not running\n"},
		{[]string{"-d", "missing"}, WaitNoSupervisor, "svwait: fatal: missing: supervise not running\n"},
		{[]string{"-o", "up", "dead"}, WaitNoSupervisor, "svwait: fatal: dead: supervise not running\n"},
		{[]string{"-t", "x", "up"}, 100, "svwait: usage: svwait " + svwaitSynopsis + "\n"},
		{[]string{"-t"}, 100, "svwait: option requires an argument -- t\nsvwait: usage: svwait " + svwaitSynopsis + "\n"},
		{[]string{"-z", "up"}, 100, "svwait: illegal option -- z\nsvwait: usage: svwait " + svwaitSynopsis + "\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			argv := []string{"svwait"}
			for _, a := range tt.args {
				if _, err := os.Lstat(filepath.Join(root, a)); err == nil || a == "missing" {
					a = filepath.Join(root, a)
				}
				argv = append(argv, a)
			}
			var stderr bytes.Buffer
			code := svwait(argv, &stderr)
			got := strings.ReplaceAll(stderr.String(), root+"/", "")
			if code != tt.code || got != tt.stderr {
				t.Errorf("svwait %q = %d, %q; want %d, %q", tt.args, code, got, tt.code, tt.stderr)
			}
		})
	}
}

// TestSvwaitChanges starts svwait on services that are not yet in the
// wanted state, changes their files as a supervisor does, and checks that
// svwait returns with the right status.
func TestSvwaitChanges(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		change func(t *testing.T, dir string)
		code   int
	}{
		{"up", []string{"-u"}, func(t *testing.T, dir string) {
			svstatus.WriteStatus(dir, svstatus.Status{Since: time.Now(), Pid: 7, Want: 'u', State: svstatus.Run})
		}, 0},
		{"ready", []string{"-U"}, func(t *testing.T, dir string) {
			since := time.Now()
			svstatus.WriteStatus(dir, svstatus.Status{Since: since, Pid: 7, Want: 'u', State: svstatus.Run})
			svstatus.WriteReady(dir, since.Add(time.Millisecond))
		}, 0},
		{"supervisor dies", []string{"-u"}, nil, WaitNoSupervisor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "svc")
			fake := newFake(t, dir)
			writeStatus(t, dir, down, svstatus.RunitSize)
			var wg sync.WaitGroup
			var code int
			var stderr bytes.Buffer
			wg.Add(1)
			go func() {
				defer wg.Done()
				code = svwait(append(append([]string{"svwait"}, tt.args...), "-t", "20000", dir), &stderr)
			}()
			time.Sleep(100 * time.Millisecond) // let svwait see the old state first
			if tt.change != nil {
				tt.change(t, dir)
			} else {
				fake.stop()
			}
			wg.Wait()
			if code != tt.code {
				t.Errorf("svwait %q = %d (%q), want %d", tt.args, code, stderr.String(), tt.code)
			}
		})
	}
}

// TestDrainEvents checks which file events wake svwait: the supervisor's
// writes do, svwait's own reads and probes do not.
func TestDrainEvents(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "svc")
	fake := newFake(t, dir)
	writeStatus(t, dir, down, svstatus.RunitSize)
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(in)
	const mask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_DELETE | unix.IN_CLOSE_WRITE |
		unix.IN_CLOSE_NOWRITE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
	if _, err := unix.InotifyAddWatch(in, dir+"/supervise", mask); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"nothing", func() {}, false},
		{"svwait reads status", func() { reached(dir, condUp) }, false},
		{"svwait reads ready", func() { reached(dir, condReady) }, false},
		{"svwait probes ok", func() { probe(dir) }, false},
		{"status replaced", func() { svstatus.WriteStatus(dir, upRun) }, true},
		{"ready written", func() { svstatus.WriteReady(dir, time.Now()) }, true},
		{"ready removed", func() { svstatus.RemoveReady(dir) }, true},
		{"status written in place", func() { writeStatus(t, dir, down, 20) }, true},
		{"pid file written", func() { os.WriteFile(filepath.Join(dir, "supervise", "pid"), nil, 0o644) }, false},
		{"supervisor closes ok", fake.stop, true},
	}
	for _, s := range steps {
		s.do()
		got, err := drainEvents(in, buf)
		if err != nil || got != s.want {
			t.Errorf("%s: drainEvents = %v, %v; want %v", s.name, got, err, s.want)
		}
	}
}

// TestSvwaitLive runs ichi's svwait binary against runit's runsv and
// daemontools' supervise, driven by ichi's svc.
func TestSvwaitLive(t *testing.T) {
	svwait, svc := testutil.ToolLink(t, "svwait"), testutil.ToolLink(t, "svc")
	for _, prog := range []string{"supervise", "runsv"} {
		t.Run(prog, func(t *testing.T) {
			root := t.TempDir()
			serviceDir(t, root, "a", "exec sleep 300")
			startSupervisor(t, testutil.Need(t, prog), filepath.Join(root, "a"))
			steps := []struct {
				cmd  string
				args []string
				code int
			}{
				{svwait, []string{"-u", "-t", "10000", "a"}, 0},
				{svwait, []string{"-d", "-t", "100", "a"}, WaitTimedOut},
				{svc, []string{"-d", "a"}, 0},
				{svwait, []string{"-D", "-t", "10000", "a"}, 0},
				{svwait, []string{"-u", "-t", "100", "a"}, WaitTimedOut},
				{svc, []string{"-u", "a"}, 0},
				{svwait, []string{"-u", "-t", "10000", "a"}, 0},
				{svwait, []string{"-U", "-t", "100", "a"}, WaitTimedOut}, // no readiness from these supervisors
				{svc, []string{"-dx", "a"}, 0},
			}
			for i, s := range steps {
				if r := runTool(t, root, s.cmd, s.args...); r.code != s.code {
					t.Fatalf("step %d: %s %q = %+v, want status %d", i, filepath.Base(s.cmd), s.args, r, s.code)
				}
			}
			waitFor(t, "supervisor exit", func() bool { return probe(filepath.Join(root, "a")) != nil })
			if r := runTool(t, root, svwait, "-u", "-t", "10000", "a"); r.code != WaitNoSupervisor || r.stderr != "svwait: fatal: a: supervise not running\n" {
				t.Errorf("svwait without supervisor = %+v", r)
			}
		})
	}
}
