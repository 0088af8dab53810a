package main

// The container benchmark (issue 7): what the init adds to a container's
// start and end — `init -- true` as PID 1 of a new PID namespace, 200 times,
// against tini, dumb-init and plain `true` — and how it reaps 10,000 orphans
// (the reaper benchmark's figures, measured once per bench run).

import (
	"fmt"
	"os/exec"
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
	cands = append(cands, candidate{"true", []string{truePath}})
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
	for _, in := range list {
		res = append(res, Result{Metric: "start-up overhead over `true`", Program: in.name, Value: mean(in.name) - mean("true"), Unit: "ms", Better: Lower,
			Note: "mean minus plain true's"})
	}
	reaping, err := reapingResults(ctx)
	if err != nil {
		return nil, fmt.Errorf("reaping: %w", err)
	}
	return append(res, reaping...), nil
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
