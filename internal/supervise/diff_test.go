package supervise

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/reaper"
	"github.com/ichi-init/ichi/internal/svstatus"
	"github.com/ichi-init/ichi/internal/testutil"
)

// Differential tests: the same service directory supervised by ichi's
// supervise tool (the real binary) and by a reference supervisor, driven by
// the reference client tools; their output must be the same once pids and
// seconds are normalised.

// peer is one supervisor under comparison: it supervises PARENT/svc.
type peer struct {
	name   string // "ichi", "daemontools", "runit"
	parent string
	dir    string // parent/svc
	child  *reaper.Child
}

// startPeers makes PARENT/svc with files for each supervisor program and
// starts it there (cwd PARENT, argument "svc").
func startPeers(t *testing.T, r *reaper.Reaper, files map[string]string, progs map[string]string) []*peer {
	t.Helper()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { null.Close() })
	var peers []*peer
	names := make([]string, 0, len(progs))
	for n := range progs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		parent := t.TempDir()
		dir := filepath.Join(parent, "svc")
		os.Mkdir(dir, 0o755)
		for f, content := range files {
			mode := os.FileMode(0o644)
			if f == "run" || f == "finish" {
				mode = 0o755
			}
			if err := os.WriteFile(filepath.Join(dir, f), []byte(content), mode); err != nil {
				t.Fatal(err)
			}
		}
		prog := progs[name]
		c, err := r.Spawn(reaper.Cmd{
			Path:  prog,
			Args:  []string{filepath.Base(prog), "svc"},
			Env:   []string{"PATH=/usr/bin:/bin"},
			Dir:   parent,
			Files: []*os.File{null, null, null},
		})
		if err != nil {
			t.Fatal(err)
		}
		p := &peer{name: name, parent: parent, dir: dir, child: c}
		peers = append(peers, p)
		t.Cleanup(func() { p.stop(t) })
	}
	for _, p := range peers {
		waitFor(t, p.name+" supervising", 5*time.Second, func() bool {
			_, err := os.Stat(filepath.Join(p.dir, "supervise", "ok"))
			return err == nil
		})
	}
	return peers
}

// stop ends a peer: down, kill, exit; KILL for the supervisor and its
// service if that did not work.
func (p *peer) stop(t *testing.T) {
	select {
	case <-p.child.Done():
		return
	default:
	}
	var pid int
	if b, err := os.ReadFile(filepath.Join(p.dir, "supervise", "status")); err == nil {
		if st, err := svstatus.Decode(b); err == nil {
			pid = st.Pid
		}
	}
	if fd, err := syscall.Open(filepath.Join(p.dir, "supervise", "control"), syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		syscall.Write(fd, []byte("dkx"))
		syscall.Close(fd)
	}
	select {
	case <-p.child.Done():
	case <-time.After(5 * time.Second):
		t.Errorf("%s did not exit after dkx", p.name)
		p.child.Signal(syscall.SIGKILL)
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		<-p.child.Done()
	}
}

var (
	pidRE     = regexp.MustCompile(`\(pid [0-9]+\)`)
	secondsRE = regexp.MustCompile(`[0-9]+ seconds`)
	svSecRE   = regexp.MustCompile(`\b[0-9]+s\b`)
)

func normalise(s string) string {
	s = pidRE.ReplaceAllString(s, "(pid N)")
	s = secondsRE.ReplaceAllString(s, "N seconds")
	return svSecRE.ReplaceAllString(s, "Ns")
}

// step is one action on every peer, the state to wait for, and the tools
// whose output is compared.
type step struct {
	name   string
	action []string           // tool and arguments, run in PARENT; nil for none
	until  func(p *peer) bool // waited for on every peer after the action
	newPid bool               // also wait for a pid other than the one before the action
	check  [][]string         // tools whose normalised output and code must agree
	want   map[string]string  // check command (joined) -> expected normalised output
}

func runSteps(t *testing.T, r *reaper.Reaper, peers []*peer, tools map[string]string, steps []step) {
	t.Helper()
	run := func(p *peer, argv []string) (string, int) {
		return runTool(t, r, p.parent, tools[argv[0]], argv[1:]...)
	}
	for _, s := range steps {
		oldPid := map[string]int{}
		for _, p := range peers {
			st, _ := p.status()
			oldPid[p.name] = st.Pid
		}
		if s.action != nil {
			outs := map[string]string{}
			for _, p := range peers {
				out, code := run(p, s.action)
				outs[p.name] = fmt.Sprintf("%s[exit %d]", normalise(out), code)
			}
			agree(t, s.name+": "+strings.Join(s.action, " "), peers, outs, "")
		}
		for _, p := range peers {
			waitFor(t, s.name+" on "+p.name, 8*time.Second, func() bool {
				if s.newPid {
					if st, ok := p.status(); !ok || st.Pid == 0 || st.Pid == oldPid[p.name] {
						return false
					}
				}
				return s.until == nil || s.until(p)
			})
		}
		for _, c := range s.check {
			outs := map[string]string{}
			for _, p := range peers {
				out, code := run(p, c)
				outs[p.name] = fmt.Sprintf("%s[exit %d]", normalise(out), code)
			}
			agree(t, s.name+": "+strings.Join(c, " "), peers, outs, s.want[strings.Join(c, " ")])
		}
	}
}

// agree fails unless every peer printed the same; want, when set, is what
// they must all have printed.
func agree(t *testing.T, what string, peers []*peer, outs map[string]string, want string) {
	t.Helper()
	ref := outs[peers[0].name]
	for _, p := range peers[1:] {
		if outs[p.name] != ref {
			t.Errorf("%s:\n%s: %q\n%s: %q", what, peers[0].name, ref, p.name, outs[p.name])
		}
	}
	if want != "" && ref != want {
		t.Errorf("%s: got %q, want %q", what, ref, want)
	}
}

// status reads a peer's supervise/status (either layout).
func (p *peer) status() (svstatus.Status, bool) {
	b, err := os.ReadFile(filepath.Join(p.dir, "supervise", "status"))
	if err != nil {
		return svstatus.Status{}, false
	}
	st, err := svstatus.Decode(b)
	return st, err == nil
}

func up(p *peer) bool   { st, ok := p.status(); return ok && st.Pid != 0 }
func down(p *peer) bool { st, ok := p.status(); return ok && st.Pid == 0 }

func signalsSeen(n int) func(p *peer) bool {
	return func(p *peer) bool { return len(fileLines(filepath.Join(p.dir, "signals"))) >= n }
}

// helperUp: the signal-recording helper runs under the current pid and has
// installed its handlers.
func helperUp(p *peer) bool {
	st, ok := p.status()
	if !ok || st.Pid == 0 {
		return false
	}
	b, err := os.ReadFile(filepath.Join(p.dir, "started"))
	return err == nil && string(b) == strconv.Itoa(st.Pid)
}

// TestDaemontoolsTools drives ichi's supervise and daemontools' with
// Debian's svc, and compares what svstat and svok report, and which signals
// the service received.
func TestDaemontoolsTools(t *testing.T) {
	ichi := testutil.ToolLink(t, "supervise")
	tools := map[string]string{
		"svc":    testutil.Need(t, "svc"),
		"svstat": testutil.Need(t, "svstat"),
		"svok":   testutil.Need(t, "svok"),
	}
	dt := testutil.Need(t, "supervise")
	r := newReaper(t)
	peers := startPeers(t, r, map[string]string{"run": helperScript("signals")},
		map[string]string{"ichi": ichi, "daemontools": dt})
	svstat := []string{"svstat", "svc"}
	svok := []string{"svok", "svc"}
	both := [][]string{svstat, svok}
	sigs := func(p *peer) []string { return fileLines(filepath.Join(p.dir, "signals")) }
	var steps []step
	steps = append(steps,
		step{name: "started", until: helperUp, check: both, want: map[string]string{
			"svstat svc": "svc: up (pid N) N seconds\n[exit 0]", "svok svc": "[exit 0]"}},
	)
	n := 0
	for _, c := range []struct{ opt, sig string }{
		{"-h", "hangup"}, {"-a", "alarm clock"}, {"-i", "interrupt"}, {"-t", "terminated"}, {"-c", "continued"},
	} {
		n++
		steps = append(steps, step{name: "signal " + c.opt, action: []string{"svc", c.opt, "svc"},
			until: signalsSeen(n), check: [][]string{svstat}})
	}
	steps = append(steps,
		step{name: "pause", action: []string{"svc", "-p", "svc"},
			until: func(p *peer) bool { st, _ := p.status(); return st.Paused }, check: [][]string{svstat},
			want: map[string]string{"svstat svc": "svc: up (pid N) N seconds, paused\n[exit 0]"}},
		step{name: "continue", action: []string{"svc", "-c", "svc"},
			until: func(p *peer) bool { st, _ := p.status(); return !st.Paused && len(sigs(p)) >= 6 }, check: [][]string{svstat}},
		// The helper ignores TERM: down leaves it running, wanted down.
		step{name: "down ignored", action: []string{"svc", "-d", "svc"},
			until: func(p *peer) bool { st, _ := p.status(); return st.Want != 'u' && len(sigs(p)) >= 8 },
			check: [][]string{svstat},
			want:  map[string]string{"svstat svc": "svc: up (pid N) N seconds, want down\n[exit 0]"}},
		step{name: "kill", action: []string{"svc", "-k", "svc"}, until: down, check: both,
			want: map[string]string{"svstat svc": "svc: down N seconds, normally up\n[exit 0]", "svok svc": "[exit 0]"}},
		step{name: "up", action: []string{"svc", "-u", "svc"}, until: helperUp, check: [][]string{svstat}},
		step{name: "kill restarts", action: []string{"svc", "-k", "svc"}, newPid: true, until: helperUp, check: [][]string{svstat}},
		step{name: "down and kill", action: []string{"svc", "-dk", "svc"}, until: down, check: [][]string{svstat}},
		step{name: "exit", action: []string{"svc", "-x", "svc"},
			until: func(p *peer) bool {
				select {
				case <-p.child.Done():
					return true
				default:
					return false
				}
			},
			check: both,
			want:  map[string]string{"svstat svc": "svc: supervise not running\n[exit 0]", "svok svc": "[exit 100]"}},
	)
	var recorded map[string][]string
	for i, s := range steps {
		if s.name == "kill" {
			// What the first helper recorded; the signals -dk sends later
			// race with its KILL.
			runSteps(t, r, peers, tools, steps[:i])
			recorded = map[string][]string{}
			for _, p := range peers {
				recorded[p.name] = sigs(p)
			}
			runSteps(t, r, peers, tools, steps[i:])
			break
		}
	}
	want := []string{"hangup", "alarm clock", "interrupt", "terminated", "continued", "continued", "terminated", "continued"}
	for _, p := range peers {
		if got := recorded[p.name]; !sameSignals(got, want) {
			t.Errorf("signals: %s's service got %q, want %q", p.name, got, want)
		}
	}
}

// sameSignals compares recorded signals with want, the last two as a set:
// they come from svc -d, which sends TERM and CONT together, and which of
// the two pending signals a shell's traps see first is not fixed
// (daemontools' own supervise shows both orders).
func sameSignals(got, want []string) bool {
	n := len(want)
	if len(got) != n || n < 2 || !slices.Equal(got[:n-2], want[:n-2]) {
		return false
	}
	a, b := slices.Clone(got[n-2:]), slices.Clone(want[n-2:])
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func exited(p *peer) bool {
	select {
	case <-p.child.Done():
		return true
	default:
		return false
	}
}

// TestRunitTools drives ichi's supervise and runit's runsv with sv, and
// compares what sv (and daemontools' svstat, reading runit's status file)
// print.
func TestRunitTools(t *testing.T) {
	ichi := testutil.ToolLink(t, "supervise")
	tools := map[string]string{
		"sv":     testutil.Need(t, "sv"),
		"svstat": testutil.Need(t, "svstat"),
	}
	runsv := testutil.Need(t, "runsv")
	r := newReaper(t)
	peers := startPeers(t, r, map[string]string{"run": "#!/bin/sh\nexec sleep 1000\n"},
		map[string]string{"ichi": ichi, "runit": runsv})
	status := [][]string{{"sv", "status", "./svc"}, {"svstat", "svc"}}
	paused := func(want bool) func(p *peer) bool {
		return func(p *peer) bool { st, ok := p.status(); return ok && st.Paused == want }
	}
	runSteps(t, r, peers, tools, []step{
		{name: "started", until: up, check: status, want: map[string]string{
			"sv status ./svc": "run: ./svc: (pid N) Ns\n[exit 0]"}},
		{name: "down", action: []string{"sv", "-v", "down", "./svc"}, until: down, check: status, want: map[string]string{
			"sv status ./svc": "down: ./svc: Ns, normally up\n[exit 0]",
			"svstat svc":      "svc: down N seconds, normally up\n[exit 0]"}},
		{name: "up", action: []string{"sv", "-v", "up", "./svc"}, until: up, check: status},
		{name: "restart", action: []string{"sv", "-v", "restart", "./svc"}, newPid: true, check: status},
		{name: "hup", action: []string{"sv", "hup", "./svc"}, newPid: true, check: status},
		{name: "term", action: []string{"sv", "-v", "term", "./svc"}, newPid: true, check: status},
		{name: "kill", action: []string{"sv", "-v", "kill", "./svc"}, newPid: true, check: status},
		{name: "once", action: []string{"sv", "-v", "once", "./svc"},
			until: func(p *peer) bool { st, ok := p.status(); return ok && st.Want != 'u' }, check: status,
			want: map[string]string{
				"sv status ./svc": "run: ./svc: (pid N) Ns, want down\n[exit 0]",
				"svstat svc":      "svc: up (pid N) N seconds, want down\n[exit 0]"}},
		{name: "pause", action: []string{"sv", "pause", "./svc"}, until: paused(true), check: status},
		{name: "cont", action: []string{"sv", "cont", "./svc"}, until: paused(false), check: status},
		{name: "down again", action: []string{"sv", "-v", "down", "./svc"}, until: down, check: status},
		// Without -v: sv -v once right after a down reads runsv's status
		// before runsv has acted on 'o' and may print "ok: down" (runit's
		// own race); the state afterwards is what is compared.
		{name: "once from down", action: []string{"sv", "once", "./svc"}, until: up, check: status},
		{name: "force-stop", action: []string{"sv", "force-stop", "./svc"}, until: down, check: status},
		{name: "exit", action: []string{"sv", "exit", "./svc"}, until: exited, check: status, want: map[string]string{
			"sv status ./svc": "fail: ./svc: runsv not running\n[exit 1]"}},
	})
}

// TestRunitFinish compares the finish state and ./finish's arguments.
func TestRunitFinish(t *testing.T) {
	ichi := testutil.ToolLink(t, "supervise")
	tools := map[string]string{"sv": testutil.Need(t, "sv")}
	runsv := testutil.Need(t, "runsv")
	r := newReaper(t)
	peers := startPeers(t, r, map[string]string{
		"run":    "#!/bin/sh\nexec sleep 1000\n",
		"finish": "#!/bin/sh\necho \"$@\" >> finished\nexec sleep 1\n",
	}, map[string]string{"ichi": ichi, "runit": runsv})
	// runsv writes the finish state twice: first with pid 0 when ./run
	// has exited, then with ./finish's pid once it has started it. Only the
	// second is compared; the first is a moment ichi never shows.
	finishing := func(p *peer) bool {
		st, ok := p.status()
		return ok && st.State == svstatus.Finish && st.Pid != 0
	}
	status := [][]string{{"sv", "status", "./svc"}}
	runSteps(t, r, peers, tools, []step{
		{name: "started", until: up, check: status},
		{name: "down", action: []string{"sv", "down", "./svc"}, until: finishing, check: status, want: map[string]string{
			"sv status ./svc": "finish: ./svc: (pid N) Ns, want down\n[exit 0]"}},
		{name: "finished", until: down, check: status},
		{name: "up", action: []string{"sv", "up", "./svc"}, until: up, check: status},
		{name: "kill", action: []string{"sv", "kill", "./svc"}, until: finishing, check: status},
		{name: "restarted", until: func(p *peer) bool { st, ok := p.status(); return ok && st.State == svstatus.Run }, check: status},
	})
	for _, p := range peers {
		got := fileLines(filepath.Join(p.dir, "finished"))
		if want := []string{"-1 15", "-1 9"}; !slices.Equal(got, want) {
			t.Errorf("%s: ./finish got %q, want %q", p.name, got, want)
		}
	}
}

// TestLockAgainstDaemontools: ichi's supervise and daemontools' refuse a
// directory the other one holds, with the same message and exit code.
func TestLockAgainstDaemontools(t *testing.T) {
	ichi := testutil.ToolLink(t, "supervise")
	dt := testutil.Need(t, "supervise")
	r := newReaper(t)
	files := map[string]string{"run": "#!/bin/sh\nexec sleep 1000\n", "down": ""}
	want := "supervise: fatal: unable to acquire svc/supervise/lock: temporary failure\n[exit 111]"
	for _, tc := range []struct{ holder, second string }{{"ichi", dt}, {"daemontools", ichi}} {
		holder := map[string]string{"ichi": ichi, "daemontools": dt}[tc.holder]
		peers := startPeers(t, r, files, map[string]string{tc.holder: holder})
		out, code := runTool(t, r, peers[0].parent, tc.second, "svc")
		if got := fmt.Sprintf("%s[exit %d]", out, code); got != want {
			t.Errorf("%s holds the lock: %s printed %q, want %q", tc.holder, tc.second, got, want)
		}
		// ichi's failed attempt changed nothing under daemontools.
		sdir := filepath.Join(peers[0].dir, "supervise")
		if tc.holder == "daemontools" && sameFile(t, filepath.Join(sdir, "ok"), filepath.Join(sdir, "control")) {
			t.Errorf("ichi's failed start replaced daemontools' supervise/ok")
		}
		if !okOpen(peers[0].dir) {
			t.Errorf("%s holds the lock, but svok finds no supervisor after %s's failed start", tc.holder, tc.second)
		}
		peers[0].stop(t)
	}
}

// superviseOn starts the supervisor program prog on PARENT/svc (the
// directory must exist) and waits until it has supervise/ok open.
func superviseOn(t *testing.T, r *reaper.Reaper, name, prog, parent string) *peer {
	t.Helper()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	c, err := r.Spawn(reaper.Cmd{
		Path:  prog,
		Args:  []string{filepath.Base(prog), "svc"},
		Env:   []string{"PATH=/usr/bin:/bin"},
		Dir:   parent,
		Files: []*os.File{null, null, null},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{name: name, parent: parent, dir: filepath.Join(parent, "svc"), child: c}
	t.Cleanup(func() { p.stop(t) })
	waitFor(t, name+" supervising", 5*time.Second, func() bool { return okOpen(p.dir) && up(p) })
	return p
}

// okOpen reports whether a supervisor has DIR/supervise/ok open, as svok
// finds out.
func okOpen(dir string) bool {
	fd, err := syscall.Open(filepath.Join(dir, "supervise", "ok"), syscall.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	syscall.Close(fd)
	return true
}

// sameFile reports whether two paths name the same inode.
func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Lstat(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.Lstat(b)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(fa, fb)
}

// TestTakeOver: one supervisor after another on the same directory, ichi's
// and daemontools' or runit's in both orders, and ichi's after an ichi
// supervisor that was killed and left its FIFO behind as lock. The second
// must supervise (its service up, svok and svc working with the reference
// tools), and ichi's must leave lock, ok and control as one FIFO while it
// runs and no lock when it is done.
func TestTakeOver(t *testing.T) {
	ichi := testutil.ToolLink(t, "supervise")
	progs := map[string]string{
		"ichi":        ichi,
		"daemontools": testutil.Need(t, "supervise"),
		"runit":       testutil.Need(t, "runsv"),
	}
	svc, svok := testutil.Need(t, "svc"), testutil.Need(t, "svok")
	r := newReaper(t)
	tests := []struct {
		first, second string
		kill          bool // end the first one with SIGKILL instead of svc -dx
	}{
		{first: "daemontools", second: "ichi"},
		{first: "ichi", second: "daemontools"},
		{first: "runit", second: "ichi"},
		{first: "ichi", second: "runit"},
		{first: "ichi", second: "ichi", kill: true},
	}
	for _, tc := range tests {
		name := tc.first + " then " + tc.second
		if tc.kill {
			name = tc.first + " killed then " + tc.second
		}
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "svc")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "run"), []byte("#!/bin/sh\nexec sleep 1000\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			sdir := filepath.Join(dir, "supervise")
			checkIchi := func(p *peer) {
				t.Helper()
				if p.name != "ichi" {
					return
				}
				for _, f := range []string{"ok", "lock"} {
					if !sameFile(t, filepath.Join(sdir, "control"), filepath.Join(sdir, f)) {
						t.Errorf("under ichi, supervise/%s is not supervise/control", f)
					}
				}
			}
			first := superviseOn(t, r, tc.first, progs[tc.first], parent)
			checkIchi(first)
			st, _ := first.status()
			if tc.kill {
				first.child.Signal(syscall.SIGKILL)
				<-first.child.Done()
				syscall.Kill(st.Pid, syscall.SIGKILL)
			} else {
				if out, code := runTool(t, r, parent, svc, "-dx", "svc"); code != 0 {
					t.Fatalf("svc -dx: %q, exit %d", out, code)
				}
				waitFor(t, tc.first+" exiting", 5*time.Second, func() bool { return exited(first) })
			}
			if _, err := os.Lstat(filepath.Join(sdir, "lock")); tc.first == "ichi" && !tc.kill && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("ichi's supervisor ended and left supervise/lock (%v)", err)
			}
			second := superviseOn(t, r, tc.second, progs[tc.second], parent)
			checkIchi(second)
			if out, code := runTool(t, r, parent, svok, "svc"); code != 0 {
				t.Errorf("svok under %s: %q, exit %d", tc.second, out, code)
			}
			if out, code := runTool(t, r, parent, svc, "-d", "svc"); code != 0 {
				t.Errorf("svc -d under %s: %q, exit %d", tc.second, out, code)
			}
			waitFor(t, "down under "+tc.second, 5*time.Second, func() bool { return down(second) })
			if out, code := runTool(t, r, parent, svc, "-x", "svc"); code != 0 {
				t.Errorf("svc -x under %s: %q, exit %d", tc.second, out, code)
			}
			waitFor(t, tc.second+" exiting", 5*time.Second, func() bool { return exited(second) })
		})
	}
}

// TestLockAgainstRunit: runsv refuses a directory ichi's supervisor holds,
// and ichi's refuses one runsv holds.
func TestLockAgainstRunit(t *testing.T) {
	ichi := testutil.ToolLink(t, "supervise")
	runsv := testutil.Need(t, "runsv")
	r := newReaper(t)
	files := map[string]string{"run": "#!/bin/sh\nexec sleep 1000\n", "down": ""}
	for _, tc := range []struct{ holder, second, want string }{
		{"ichi", runsv, "runsv svc: fatal: unable to lock supervise/lock: temporary failure\n[exit 111]"},
		{"runit", ichi, "supervise: fatal: unable to acquire svc/supervise/lock: temporary failure\n[exit 111]"},
	} {
		holder := map[string]string{"ichi": ichi, "runit": runsv}[tc.holder]
		peers := startPeers(t, r, files, map[string]string{tc.holder: holder})
		out, code := runTool(t, r, peers[0].parent, tc.second, "svc")
		if got := fmt.Sprintf("%s[exit %d]", out, code); got != tc.want {
			t.Errorf("%s holds the lock: %s printed %q, want %q", tc.holder, filepath.Base(tc.second), got, tc.want)
		}
		if !okOpen(peers[0].dir) {
			t.Errorf("%s holds the lock, but svok finds no supervisor after the failed start", tc.holder)
		}
		peers[0].stop(t)
	}
}
