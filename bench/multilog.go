package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// The multilog benchmark: throughput, CPU time and peak memory of a logger
// stamping and rotating about 200 MB of log lines (t s16777215 n20), for
// ichi's multilog, daemontools' multilog, s6-log and svlogd in the same run,
// with `cat > file` as the floor. Every program reads the same file on its
// standard input; the lines each one logged are counted.
func init() {
	register(Benchmark{Name: "multilog", Issue: 10, Run: benchMultilog})
}

const multilogInputMB = 200

func benchMultilog(ctx *Context) ([]Result, error) {
	input := filepath.Join(ctx.Work, "input")
	size, lines, err := writeMultilogInput(input, multilogInputMB<<20)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(ctx.Log, "multilog: %d lines, %.1f MB of input\n", lines, float64(size)/1e6)
	ichi := filepath.Join(ctx.Work, "multilog")
	if err := os.Symlink(ctx.Ichi, ichi); err != nil {
		return nil, err
	}
	type prog struct {
		name  string
		argv  []string
		setup func(dir string) error
		file  bool // the output is one file (cat), not a log directory
	}
	progs := []prog{
		{name: "ichi", argv: []string{ichi, "t", "s16777215", "n20", "./dir"}},
		{name: "daemontools", argv: []string{"/usr/bin/multilog", "t", "s16777215", "n20", "./dir"}},
		{name: "s6-log", argv: []string{"s6-log", "t", "s16777215", "n20", "./dir"}},
		{name: "svlogd", argv: []string{"svlogd", "-t", "./dir"}, setup: func(dir string) error {
			if err := os.Mkdir(dir, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "config"), []byte("s16777215\nn20\n"), 0o644)
		}},
		{name: "cat > file", argv: []string{"cat"}, file: true},
	}
	var results []Result
	for _, p := range progs {
		path, err := exec.LookPath(p.argv[0])
		if err != nil {
			fmt.Fprintf(ctx.Log, "multilog: %s missing, skipped: %v\n", p.name, err)
			continue
		}
		run := filepath.Join(ctx.Work, "run")
		os.RemoveAll(run)
		if err := os.Mkdir(run, 0o755); err != nil {
			return nil, err
		}
		if p.setup != nil {
			if err := p.setup(filepath.Join(run, "dir")); err != nil {
				return nil, err
			}
		}
		in, err := os.Open(input)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(path, p.argv[1:]...)
		cmd.Dir = run
		cmd.Stdin = in
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if p.file {
			out, err := os.Create(filepath.Join(run, "out"))
			if err != nil {
				in.Close()
				return nil, err
			}
			cmd.Stdout = out
			defer out.Close()
		}
		start := time.Now()
		err = cmd.Start()
		var hwm int64
		if err == nil {
			stop, sampled := make(chan struct{}), make(chan int64)
			go sampleHWM(cmd.Process.Pid, stop, sampled)
			err = cmd.Wait()
			close(stop)
			hwm = <-sampled
		}
		wall := time.Since(start)
		in.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %s", p.name, err, stderr.String())
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		target := filepath.Join(run, "dir")
		if p.file {
			target = filepath.Join(run, "out")
		}
		got, err := countLines(target)
		if err != nil {
			return nil, fmt.Errorf("%s: count lines: %w", p.name, err)
		}
		note := fmt.Sprintf("%d/%d lines in %v", got, lines, wall.Round(time.Millisecond))
		if got != lines {
			note += " LINES LOST"
		}
		mb := float64(size) / 1e6
		results = append(results,
			Result{Metric: "throughput", Program: p.name, Value: mb / wall.Seconds(), Unit: "MB/s", Better: Higher, Note: note},
			Result{Metric: "CPU per 100 MB", Program: p.name, Value: cpu.Seconds() * 100 / mb, Unit: "s", Better: Lower},
			Result{Metric: "peak RSS", Program: p.name, Value: float64(hwm), Unit: "KiB", Better: Lower,
				Note: fmt.Sprintf("VmHWM sampled; ru_maxrss %d KiB", ru.Maxrss)},
		)
		os.RemoveAll(run)
	}
	return results, nil
}

// sampleHWM reads the peak resident set size (VmHWM) of pid every
// millisecond until stop is closed, and sends the largest value seen.
//
// The child's ru_maxrss is no use here: Go starts children with
// CLONE_VFORK|CLONE_VM, and the kernel counts the parent's resident set at
// exec into the child's maximum, so every program would show at least the
// benchmark's own size. VmHWM belongs to the program's own address space.
func sampleHWM(pid int, stop <-chan struct{}, out chan<- int64) {
	var peak int64
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	status := fmt.Sprintf("/proc/%d/status", pid)
	for {
		if b, err := os.ReadFile(status); err == nil {
			if i := bytes.Index(b, []byte("VmHWM:")); i >= 0 {
				var kb int64
				fmt.Sscan(string(b[i+len("VmHWM:"):]), &kb)
				peak = max(peak, kb)
			}
		}
		select {
		case <-stop:
			out <- peak
			return
		case <-t.C:
		}
	}
}

// writeMultilogInput writes about size bytes of log lines of 40 to 300
// bytes, the same every time, and returns the size and the line count.
func writeMultilogInput(path string, size int64) (int64, int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(10, 10))
	words := []string{"GET", "/index.html", "200", "client", "192.0.2.17", "connection", "closed", "query",
		"example.org", "IN", "A", "cache", "miss", "took", "12ms", "user=alice", "session", "expired", "retrying", "warning:"}
	var written int64
	lines := 0
	var line []byte
	for written < size {
		n := 40 + r.IntN(261)
		line = line[:0]
		for len(line) < n {
			if len(line) > 0 {
				line = append(line, ' ')
			}
			line = append(line, words[r.IntN(len(words))]...)
		}
		line = append(line[:n], '\n')
		if _, err := w.Write(line); err != nil {
			return 0, 0, err
		}
		written += int64(len(line))
		lines++
	}
	return written, lines, w.Flush()
}

// countLines counts the newlines in a file, or in every regular file of a
// log directory but its config.
func countLines(path string) (int, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	files := []string{path}
	if fi.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return 0, err
		}
		files = files[:0]
		for _, e := range entries {
			if e.Type().IsRegular() && e.Name() != "config" && e.Name() != "lock" && e.Name() != "state" {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	n := 0
	buf := make([]byte, 1<<20)
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return 0, err
		}
		for {
			k, err := f.Read(buf)
			n += bytes.Count(buf[:k], []byte{'\n'})
			if err != nil {
				break
			}
		}
		f.Close()
	}
	return n, nil
}
