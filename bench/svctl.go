package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The svctl benchmark: the client tools against daemontools' (and runit's
// sv) on the same directories in the same run. The directories look
// supervised: the benchmark creates their FIFOs and status files and holds
// supervise/ok open itself, so no supervisor's load blurs the figures.
func init() {
	register(Benchmark{Name: "svctl", Issue: 4, Run: benchSvctl})
}

const (
	svctlServices = 1000 // directories svstat reports on in one call
	svctlRuns     = 5    // svstat runs per program; the best counts
	svctlCalls    = 200  // single-directory calls timed for svok and svc
)

func benchSvctl(ctx *Context) ([]Result, error) {
	dirs, closeAll, err := fakeServices(ctx.Work, svctlServices)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	link := func(tool string) (string, error) {
		p := filepath.Join(ctx.Work, tool)
		return p, os.Symlink(ctx.Ichi, p)
	}
	var results []Result

	svstat, err := link("svstat")
	if err != nil {
		return nil, err
	}
	metric := fmt.Sprintf("status of %d services, one call", svctlServices)
	for _, p := range []struct {
		name string
		argv []string
	}{
		{"ichi", append([]string{svstat}, dirs...)},
		{"daemontools", append([]string{"/usr/bin/svstat"}, dirs...)},
		{"runit sv", append([]string{"/usr/bin/sv", "status"}, dirs...)},
	} {
		best, out, err := bestOf(svctlRuns, p.argv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		lines := bytes.Count(out, []byte("\n"))
		if lines != svctlServices {
			return nil, fmt.Errorf("%s printed %d lines for %d services", p.name, lines, svctlServices)
		}
		results = append(results, Result{Metric: metric, Program: p.name, Value: float64(best.Microseconds()) / 1000, Unit: "ms", Better: Lower, Note: fmt.Sprintf("best of %d", svctlRuns)})
	}

	svok, err := link("svok")
	if err != nil {
		return nil, err
	}
	svc, err := link("svc")
	if err != nil {
		return nil, err
	}
	for _, m := range []struct {
		metric string
		progs  [][]string
	}{
		{"svok, one call", [][]string{{"ichi", svok, dirs[0]}, {"daemontools", "/usr/bin/svok", dirs[0]}}},
		{"svc -h, one call", [][]string{{"ichi", svc, "-h", dirs[0]}, {"daemontools", "/usr/bin/svc", "-h", dirs[0]}}},
	} {
		for _, p := range m.progs {
			start := time.Now()
			for range svctlCalls {
				if out, err := exec.Command(p[1], p[2:]...).CombinedOutput(); err != nil {
					return nil, fmt.Errorf("%s %s: %v: %s", p[0], m.metric, err, out)
				}
			}
			mean := time.Since(start) / svctlCalls
			results = append(results, Result{Metric: m.metric, Program: p[0], Value: float64(mean.Microseconds()) / 1000, Unit: "ms", Better: Lower, Note: fmt.Sprintf("mean of %d", svctlCalls)})
		}
	}
	return results, nil
}

// bestOf runs argv n times and returns the shortest time and its output.
func bestOf(n int, argv []string) (time.Duration, []byte, error) {
	var best time.Duration
	var out []byte
	for i := range n {
		start := time.Now()
		o, err := exec.Command(argv[0], argv[1:]...).Output()
		d := time.Since(start)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", strings.Join(argv[:min(3, len(argv))], " "), err)
		}
		if i == 0 || d < best {
			best, out = d, o
		}
	}
	return best, out, nil
}

// fakeServices makes n service directories under work whose supervise/
// holds the control and ok FIFOs, open for reading by this process, and a
// 20-byte status file saying up. It returns them and a function closing the
// FIFOs.
func fakeServices(work string, n int) ([]string, func(), error) {
	var fds []int
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	var status [20]byte
	binary.BigEndian.PutUint64(status[0:8], uint64(time.Now().Unix())+1<<62+10)
	binary.LittleEndian.PutUint32(status[12:16], 4242)
	status[17], status[19] = 'u', 1
	dirs := make([]string, n)
	for i := range dirs {
		dir := filepath.Join(work, fmt.Sprintf("service%04d", i))
		sv := filepath.Join(dir, "supervise")
		if err := os.MkdirAll(sv, 0o700); err != nil {
			closeAll()
			return nil, nil, err
		}
		for _, f := range []string{"control", "ok"} {
			p := filepath.Join(sv, f)
			if err := unix.Mkfifo(p, 0o600); err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("mkfifo %s: %w", p, err)
			}
			fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("open %s: %w", p, err)
			}
			fds = append(fds, fd)
		}
		if err := os.WriteFile(filepath.Join(sv, "status"), status[:], 0o644); err != nil {
			closeAll()
			return nil, nil, err
		}
		dirs[i] = dir
	}
	return dirs, closeAll, nil
}
