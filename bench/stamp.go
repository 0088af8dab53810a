package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/ichi-init/ichi/internal/tai64n"
)

// The stamp benchmark: lines per second through tai64n and tai64nlocal,
// ichi's against daemontools', on the same file in the same run.
func init() {
	register(Benchmark{Name: "tai64n", Issue: 2, Run: benchStamp})
}

const (
	stampLines = 2_000_000
	stampRuns  = 3 // each program runs this many times; the best counts
)

func benchStamp(ctx *Context) ([]Result, error) {
	plain := filepath.Join(ctx.Work, "lines")
	labelled := filepath.Join(ctx.Work, "labelled")
	size, err := writeLogLines(plain, labelled, stampLines)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(ctx.Log, "tai64n: %d lines, %d MB of input\n", stampLines, size>>20)
	link := func(tool string) (string, error) {
		p := filepath.Join(ctx.Work, tool)
		return p, os.Symlink(ctx.Ichi, p)
	}
	var results []Result
	for _, b := range []struct {
		tool, input string
	}{
		{"tai64n", plain},
		{"tai64nlocal", labelled},
	} {
		ours, err := link(b.tool)
		if err != nil {
			return nil, err
		}
		for _, p := range []struct{ name, path string }{
			{"ichi", ours},
			{"daemontools", "/usr/bin/" + b.tool},
		} {
			best, err := bestRun(p.path, b.input)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", p.name, b.tool, err)
			}
			results = append(results, Result{
				Metric:  b.tool + " throughput",
				Program: p.name,
				Value:   stampLines / best.Seconds(),
				Unit:    "lines/s",
				Better:  Higher,
				Note:    fmt.Sprintf("best of %d: %v for %d lines", stampRuns, best.Round(time.Millisecond), stampLines),
			})
		}
	}
	return results, nil
}

// bestRun runs prog with input on its standard input and /dev/null as its
// output stampRuns times, and returns the shortest wall-clock time.
func bestRun(prog, input string) (time.Duration, error) {
	var best time.Duration
	for range stampRuns {
		in, err := os.Open(input)
		if err != nil {
			return 0, err
		}
		out, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			in.Close()
			return 0, err
		}
		cmd := exec.Command(prog)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, os.Stderr
		start := time.Now()
		err = cmd.Run()
		d := time.Since(start)
		in.Close()
		out.Close()
		if err != nil {
			return 0, err
		}
		if best == 0 || d < best {
			best = d
		}
	}
	return best, nil
}

// writeLogLines writes n log-like lines of 40 to 300 bytes, the same every
// run, to plain, and the same lines with TAI64N labels a millisecond apart
// to labelled. It returns the size of plain.
func writeLogLines(plain, labelled string, n int) (int64, error) {
	words := []string{"GET", "/index.html", "200", "user", "login", "accepted", "connection", "from",
		"192.0.2.17", "port", "5432", "query", "took", "12ms", "error:", "timeout", "retrying", "ok",
		"worker", "started", "pid", "31337", "cache", "miss", "key=session:ab12cd34", "bytes=1048576"}
	rng := rand.New(rand.NewPCG(2, 76))
	pf, err := os.Create(plain)
	if err != nil {
		return 0, err
	}
	defer pf.Close()
	lf, err := os.Create(labelled)
	if err != nil {
		return 0, err
	}
	defer lf.Close()
	pw, lw := bufio.NewWriterSize(pf, 1<<20), bufio.NewWriterSize(lf, 1<<20)
	t := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC) // across a DST change in Europe
	var size int64
	line := make([]byte, 0, 512)
	label := make([]byte, 0, tai64n.LabelLen)
	for range n {
		want := 40 + rng.IntN(261)
		line = line[:0]
		for len(line) < want {
			if len(line) > 0 {
				line = append(line, ' ')
			}
			line = append(line, words[rng.IntN(len(words))]...)
		}
		line = append(line[:want-1], '\n')
		pw.Write(line)
		t = t.Add(time.Millisecond)
		label = tai64n.Append(label[:0], t)
		lw.Write(label)
		lw.WriteByte(' ')
		lw.Write(line)
		size += int64(len(line))
	}
	if err := pw.Flush(); err != nil {
		return 0, err
	}
	return size, lw.Flush()
}
