package main

// The reaper benchmark (issue 3): an init as PID 1 of a new PID namespace
// adopts 10,000 orphans; they exit at once; how long until /proc shows no
// zombie, and how much CPU did the init spend reaping them? ichi (its
// container role), tini and dumb-init run the same scenario in the same run.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ichi-init/ichi/internal/procstat"
)

func init() {
	register(Benchmark{Name: "reaper", Issue: 3, Run: func(ctx *Context) ([]Result, error) {
		return reapingResults(ctx)
	}})
}

// reapOrphans is the number of orphans each run makes.
const reapOrphans = 10000

// reapRounds is how many times each init runs the scenario; the median counts.
const reapRounds = 3

// initUnderTest is an init and the words that make it run a program.
type initUnderTest struct {
	name string
	argv []string // followed by the program's argv
}

func inits(ctx *Context) ([]initUnderTest, error) {
	list := []initUnderTest{{"ichi", []string{ctx.Ichi, "--"}}}
	for _, ref := range []struct {
		name string
		args []string
	}{{"tini", []string{"--"}}, {"dumb-init", []string{"--"}}} {
		p, err := exec.LookPath(ref.name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (run make deps)", ref.name, err)
		}
		list = append(list, initUnderTest{ref.name, append([]string{p}, ref.args...)})
	}
	return list, nil
}

var (
	reapingOnce sync.Once
	reapingRes  []Result
	reapingErr  error
)

// reapingResults measures every init once per bench run; the reaper and
// container benchmarks both report it.
func reapingResults(ctx *Context) ([]Result, error) {
	reapingOnce.Do(func() { reapingRes, reapingErr = measureReaping(ctx) })
	return reapingRes, reapingErr
}

func measureReaping(ctx *Context) ([]Result, error) {
	list, err := inits(ctx)
	if err != nil {
		return nil, err
	}
	walls := map[string][]time.Duration{}
	cpus := map[string][]time.Duration{}
	// Interleaved rounds, so that a busy moment of the machine does not
	// fall on one init only, each round begun by another init.
	for round := range reapRounds {
		for i := range list {
			in := list[(round+i)%len(list)]
			wall, cpu, err := reapOnce(in, reapOrphans)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", in.name, err)
			}
			fmt.Fprintf(ctx.Log, "reaper: round %d %s: %v, init CPU %v\n", round+1, in.name, wall.Round(time.Millisecond), cpu.Round(time.Microsecond))
			walls[in.name] = append(walls[in.name], wall)
			cpus[in.name] = append(cpus[in.name], cpu)
		}
	}
	var res []Result
	note := fmt.Sprintf("median of %d; %d orphans", reapRounds, reapOrphans)
	for _, in := range list {
		res = append(res, Result{Metric: "orphans exited until no zombie", Program: in.name, Value: ms(median(walls[in.name])), Unit: "ms", Better: Lower, Note: note})
	}
	for _, in := range list {
		res = append(res, Result{Metric: "init CPU while reaping", Program: in.name, Value: ms(median(cpus[in.name])), Unit: "ms", Better: Lower, Note: note + "; all threads, schedstat"})
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// orphanScript forks $0 readers of fd 3 from a subshell that exits, so that
// they are orphans adopted by the init, then waits on its stdin.
const orphanScript = `(i=0; while [ $i -lt $0 ]; do read x <&3 & i=$((i+1)); done); echo ready; read y; exit 0`

// reapOnce runs in as PID 1 of a new PID namespace (unshare --pid --fork
// --mount-proc) with n orphans, makes them exit, and returns the time from
// then until the namespace's /proc shows only the init and its program, and
// the CPU the init used meanwhile.
func reapOnce(in initUnderTest, n int) (wall, cpu time.Duration, err error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	defer pw.Close()
	args := append([]string{"--pid", "--fork", "--mount-proc"}, in.argv...)
	args = append(args, "/bin/sh", "-c", orphanScript, strconv.Itoa(n))
	cmd := exec.Command("unshare", args...)
	cmd.ExtraFiles = []*os.File{pr}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		pr.Close()
		return 0, 0, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		pr.Close()
		return 0, 0, err
	}
	if err := cmd.Start(); err != nil {
		pr.Close()
		return 0, 0, err
	}
	pr.Close()
	defer func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case werr := <-done:
			if werr != nil && err == nil {
				err = fmt.Errorf("unshare: %w", werr)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			if err == nil {
				err = errors.New("init did not exit 30 s after its program was told to")
			}
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		return 0, 0, fmt.Errorf("program did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, stdout)
	initPid, err := childOf(cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	nsProc := filepath.Join("/proc", strconv.Itoa(initPid), "root", "proc")
	// Wait until the forking subshell is reaped: the init, its program
	// and the n orphans are left.
	if err := waitProcCount(nsProc, n+2, 60*time.Second); err != nil {
		return 0, 0, err
	}
	cpu0, err := cpuTime(initPid)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	pw.Close()
	if err := waitProcCount(nsProc, 2, 60*time.Second); err != nil {
		return 0, 0, err
	}
	wall = time.Since(start)
	cpu1, err := cpuTime(initPid)
	if err != nil {
		return 0, 0, err
	}
	return wall, cpu1 - cpu0, nil
}

// childOf finds the one child of pid (unshare's forked init).
func childOf(pid int) (int, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ps, err := procstat.List("/proc")
		if err != nil {
			return 0, err
		}
		for _, p := range ps {
			if p.PPid == pid {
				return p.Pid, nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("no child of pid %d", pid)
}

// waitProcCount polls a /proc until it lists exactly want processes.
func waitProcCount(proc string, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := -1
	for time.Now().Before(deadline) {
		n, err := countProcs(proc)
		if err != nil {
			return err
		}
		if n == want {
			return nil
		}
		last = n
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("%s: %d processes after %v, want %d", proc, last, timeout, want)
}

// countProcs counts the processes a /proc lists (zombies included).
func countProcs(proc string) (int, error) {
	f, err := os.Open(proc)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		if name[0] >= '0' && name[0] <= '9' {
			n++
		}
	}
	return n, nil
}

// cpuTime is the CPU time pid's threads have run, from their schedstat
// (nanoseconds, finer than stat's clock ticks).
func cpuTime(pid int) (time.Duration, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s/%s/schedstat: %w", dir, t.Name(), err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}
