package main

// The container benchmark (issue 7): what the init adds to a container's
// start and end — `init -- true` as PID 1 of a new PID namespace, 200 times,
// against tini, dumb-init and plain `true` — and how it reaps 10,000 orphans
// (the reaper benchmark's figures, measured once per bench run).
//
// The start-up runs also measure gofloor (bench/gofloor), the least a Go
// init does before and around its program: it tells what of ichi's start-up
// is the Go runtime's and os/signal's, which no Go init avoids, and what is
// ichi's own.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

func init() {
	register(Benchmark{Name: "container", Issue: 7, Run: benchContainer})
}

// startRuns is how many times each init starts and ends.
const startRuns = 200

func benchContainer(ctx *Context) ([]Result, error) {
	list, err := inits(ctx)
	if err != nil {
		return nil, err
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		return nil, err
	}
	type candidate struct {
		name string
		argv []string
	}
	var cands []candidate
	for _, in := range list {
		cands = append(cands, candidate{in.name, append(append([]string{}, in.argv...), truePath)})
	}
	floor, err := buildGoFloor(ctx)
	if err != nil {
		return nil, err
	}
	cands = append(cands, candidate{goFloorName, []string{floor, truePath}}, candidate{"true", []string{truePath}})
	total := map[string]time.Duration{}
	runs := map[string][]time.Duration{}
	// Interleaved, so that the machine's busy moments are shared.
	for range startRuns {
		for _, c := range cands {
			d, err := startOnce(c.argv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			total[c.name] += d
			runs[c.name] = append(runs[c.name], d)
		}
	}
	var res []Result
	note := fmt.Sprintf("mean of %d runs as PID 1 of a new PID namespace", startRuns)
	mean := func(name string) float64 { return ms(total[name]) / startRuns }
	for _, c := range cands {
		res = append(res, Result{Metric: "`init -- true`", Program: c.name, Value: mean(c.name), Unit: "ms", Better: Lower,
			Note: fmt.Sprintf("%s; median %.3g ms", note, ms(median(runs[c.name])))})
	}
	overhead := func(name string) float64 { return mean(name) - mean("true") }
	for _, c := range cands {
		name := c.name
		if name == "true" {
			continue
		}
		note := "mean minus plain true's"
		if name != "tini" && overhead("tini") > 0 {
			note += fmt.Sprintf("; %.2f times tini's", overhead(name)/overhead("tini"))
		}
		res = append(res, Result{Metric: "start-up overhead over `true`", Program: name, Value: overhead(name), Unit: "ms", Better: Lower,
			Note: note})
	}
	reaping, err := reapingResults(ctx)
	if err != nil {
		return nil, fmt.Errorf("reaping: %w", err)
	}
	return append(res, reaping...), nil
}

// goFloorName is gofloor's name in the results.
const goFloorName = "minimal Go init"

// buildGoFloor builds bench/gofloor into the work directory as ichi is
// built (static, stripped) and returns its path.
func buildGoFloor(ctx *Context) (string, error) {
	out := filepath.Join(ctx.Work, "gofloor")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", out, "./bench/gofloor")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build gofloor: %v: %s", err, b)
	}
	return out, nil
}

// startOnce runs argv as PID 1 of a new PID namespace and returns how long it
// took from fork to its exit; it must exit 0.
func startOnce(argv []string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
