// Command bench measures ichi against the reference programs (daemontools,
// runit, s6, tini, dumb-init, ...) in one run and reports each figure as a
// ratio against them. It is what `make bench` runs.
//
// Benchmarks are registered by the files of this package, one file per area.
// A ratio above 1 always means ichi did better: for figures where lower is
// better (times, memory) it is reference/ichi, for figures where higher is
// better (throughput) it is ichi/reference.
//
// Usage: bench [-only NAME[,NAME...]] [-list]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Better says which direction of a figure is the good one.
type Better int

const (
	// Lower is better: times, memory, CPU.
	Lower Better = iota
	// Higher is better: throughput.
	Higher
)

// Result is one figure of one program in one benchmark.
type Result struct {
	Metric  string  // what was measured, e.g. "throughput"
	Program string  // "ichi" or the reference program's name
	Value   float64 // in Unit
	Unit    string  // e.g. "MB/s", "ms", "KiB"
	Better  Better
	Note    string // e.g. the line count that proves nothing was lost
}

// Context is what a benchmark gets: the ichi binary and a scratch directory
// that is removed afterwards.
type Context struct {
	Ichi string
	Work string
	Log  io.Writer
}

// Benchmark is one registered measurement.
type Benchmark struct {
	Name  string // short name for -only
	Issue int    // the issue whose target it measures
	Run   func(ctx *Context) ([]Result, error)
}

var benchmarks []Benchmark

func register(b Benchmark) { benchmarks = append(benchmarks, b) }

func main() {
	only := flag.String("only", "", "comma-separated benchmark names to run")
	list := flag.Bool("list", false, "list the benchmarks and exit")
	flag.Parse()
	slices.SortFunc(benchmarks, func(a, b Benchmark) int { return strings.Compare(a.Name, b.Name) })
	if *list {
		for _, b := range benchmarks {
			fmt.Printf("%s (issue %d)\n", b.Name, b.Issue)
		}
		return
	}
	ichi := os.Getenv("ICHI_BIN")
	if ichi == "" {
		ichi = "bin/init"
	}
	ichi, _ = filepath.Abs(ichi)
	if _, err := os.Stat(ichi); err != nil {
		fmt.Fprintf(os.Stderr, "bench: fatal: %s: %v (run make first)\n", ichi, err)
		os.Exit(111)
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n != "" {
			want[n] = true
		}
	}
	failed := false
	for _, b := range benchmarks {
		if len(want) > 0 && !want[b.Name] {
			continue
		}
		work, err := os.MkdirTemp("", "ichi-bench-"+b.Name+"-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: fatal: %v\n", err)
			os.Exit(111)
		}
		fmt.Printf("\n== %s (issue %d)\n", b.Name, b.Issue)
		start := time.Now()
		results, err := b.Run(&Context{Ichi: ichi, Work: work, Log: os.Stderr})
		os.RemoveAll(work)
		if err != nil {
			fmt.Printf("FAILED: %v\n", err)
			failed = true
			continue
		}
		report(os.Stdout, results)
		fmt.Printf("(%s)\n", time.Since(start).Round(time.Millisecond))
	}
	if failed {
		os.Exit(1)
	}
}

// report prints the figures of one benchmark and, for each metric, ichi's
// ratio against every other program (above 1: ichi better).
func report(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tprogram\tvalue\tratio (>1: ichi better)\tnote")
	for _, r := range results {
		ratio := ""
		if r.Program != "ichi" {
			if ichi, ok := find(results, r.Metric, "ichi"); ok && ichi.Value > 0 && r.Value > 0 {
				q := r.Value / ichi.Value
				if r.Better == Higher {
					q = ichi.Value / r.Value
				}
				ratio = fmt.Sprintf("%.2fx", q)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%.4g %s\t%s\t%s\n", r.Metric, r.Program, r.Value, r.Unit, ratio, r.Note)
	}
	tw.Flush()
}

func find(results []Result, metric, program string) (Result, bool) {
	for _, r := range results {
		if r.Metric == metric && r.Program == program {
			return r, true
		}
	}
	return Result{}, false
}
