package svctl

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ichi-init/ichi/internal/testutil"
)

// A liveStep is one svc command and the svstat line (normalised) that the
// service settles into after it, under each reference supervisor.
type liveStep struct {
	prepare   func(dirs ...string) // optional, before the command
	args      []string
	supervise string // the settled line under daemontools' supervise
	runsv     string // under runit's runsv, when it differs
}

func touchDown(dirs ...string) {
	for _, d := range dirs {
		os.WriteFile(filepath.Join(d, "down"), nil, 0o644)
	}
}

func removeDown(dirs ...string) {
	for _, d := range dirs {
		os.Remove(filepath.Join(d, "down"))
	}
}

// liveSteps walk a service through every state svstat names. The service
// ignores TERM, so that svc -d leaves it up and wanted down until svc -k,
// and HUP, so that svc -h does not restart it behind the test's back.
var liveSteps = []liveStep{
	{args: nil, supervise: "DIR: up (pid N) N seconds"},
	{args: []string{"-p"}, supervise: "DIR: up (pid N) N seconds, paused"},
	{args: []string{"-c"}, supervise: "DIR: up (pid N) N seconds"},
	{args: []string{"-h"}, supervise: "DIR: up (pid N) N seconds"},
	{args: []string{"-d"}, supervise: "DIR: up (pid N) N seconds, want down"},
	{args: []string{"-k"}, supervise: "DIR: down N seconds, normally up"},
	{prepare: touchDown, args: []string{"-u"}, supervise: "DIR: up (pid N) N seconds, normally down"},
	{args: []string{"-dk"}, supervise: "DIR: down N seconds"},
	// daemontools' once clears the want byte; runit's sets it to 'd'.
	{prepare: removeDown, args: []string{"-o"}, supervise: "DIR: up (pid N) N seconds", runsv: "DIR: up (pid N) N seconds, want down"},
	{args: []string{"-k"}, supervise: "DIR: down N seconds, normally up"},
	{args: []string{"-u"}, supervise: "DIR: up (pid N) N seconds"},
	{args: []string{"-dxk"}, supervise: "DIR: supervise not running"},
}

// TestLive drives Debian's daemontools supervise, runit's runsv and ichi's
// supervise with Debian's svc on one service and ichi's svc on an identical
// one, and after
// each command compares what Debian's svstat and ichi's say about both,
// pids and seconds normalised, and what Debian's svok and ichi's return.
func TestLive(t *testing.T) {
	svc, svstat, svok := tools(t, "svc"), tools(t, "svstat"), tools(t, "svok")
	for _, prog := range []string{"supervise", "runsv", "ichi"} {
		t.Run(prog, func(t *testing.T) {
			var path string
			if prog == "ichi" {
				path = testutil.ToolLink(t, "supervise")
			} else {
				path = testutil.Need(t, prog)
			}
			root := t.TempDir()
			const script = "trap '' TERM HUP\nexec sleep 300"
			a := serviceDir(t, root, "a", script)
			b := serviceDir(t, root, "b", script)
			startSupervisor(t, path, a)
			startSupervisor(t, path, b)
			for i, step := range liveSteps {
				want := step.supervise
				if prog != "supervise" && step.runsv != "" {
					want = step.runsv
				}
				if step.prepare != nil {
					step.prepare(a, b)
				}
				if step.args != nil {
					ref := runTool(t, root, svc.ref, append(step.args, "a")...)
					got := runTool(t, root, svc.ichi, append(step.args, "b")...)
					if got != ref {
						t.Errorf("step %d: svc %q: ichi %+v, debian %+v", i, step.args, got, ref)
					}
				}
				for _, dir := range []string{"a", "b"} {
					waitFor(t, dir+": "+want, func() bool {
						return normalise(runTool(t, root, svstat.ref, dir).stdout, dir) == want+"\n"
					})
					line := normalise(runTool(t, root, svstat.ichi, dir).stdout, dir)
					if line != want+"\n" {
						t.Errorf("step %d (svc %q): ichi svstat %s = %q, want %q", i, step.args, dir, line, want)
					}
					svok.compare(t, root, dir)
				}
				// Both directories in one call, and a missing one.
				svstat.compare(t, root, "missing")
				both := runTool(t, root, svstat.ichi, "a", "missing", "b")
				if n := normalise(both.stdout, "a", "b"); n != want+"\nmissing: unable to chdir: file does not exist\n"+want+"\n" {
					t.Errorf("step %d: ichi svstat a missing b = %q", i, n)
				}
			}
		})
	}
}
