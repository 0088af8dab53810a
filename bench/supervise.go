package main

// The restart benchmark (issue 4): how long after SIGKILL of a supervised
// service is its successor running? ichi's supervise tool, daemontools'
// supervise, runit's runsv and s6-supervise each supervise the same service
// in the same run. The clock stops when the new process executes ./run: the
// kernel's open of the file for execve raises an inotify IN_OPEN event, so
// the benchmark sleeps in poll(2) instead of polling /proc and taking CPU
// from the supervisors.
//
// Every supervisor throttles restarts to one a second, so each round kills a
// service that has been up for more than a second. Rounds are interleaved
// across the supervisors so that a busy moment of the machine does not fall
// on one of them only, and each round begins with a different one.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	register(Benchmark{Name: "restart", Issue: 4, Run: restartBench})
}

// restartRounds is how many kills each supervisor gets; the median counts.
const restartRounds = 50

// restartSupervisor is one supervisor under test, supervising its own copy
// of the service directory.
type restartSupervisor struct {
	name string
	argv []string // followed by the service directory
	dir  string
	cmd  *exec.Cmd
	ino  int       // inotify descriptor watching dir/run for IN_OPEN
	pid  int       // the service's current pid
	up   time.Time // when it was seen running
	lat  []time.Duration
}

func restartBench(ctx *Context) ([]Result, error) {
	link := filepath.Join(ctx.Work, "supervise")
	if err := os.Symlink(ctx.Ichi, link); err != nil {
		return nil, err
	}
	sups := []*restartSupervisor{{name: "ichi", argv: []string{link}}}
	for _, ref := range []struct{ name, prog string }{
		{"daemontools supervise", "supervise"}, {"runit runsv", "runsv"}, {"s6-supervise", "s6-supervise"},
	} {
		p, err := exec.LookPath(ref.prog)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (run make deps)", ref.prog, err)
		}
		sups = append(sups, &restartSupervisor{name: ref.name, argv: []string{p}})
	}
	defer func() {
		for _, s := range sups {
			s.stop()
		}
	}()
	var err error
	for i, s := range sups {
		s.dir = filepath.Join(ctx.Work, "svc"+strconv.Itoa(i))
		if err := os.Mkdir(s.dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(s.dir, "run"), []byte("#!/bin/sh\nexec sleep 100000\n"), 0o755); err != nil {
			return nil, err
		}
		if s.ino, err = unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC); err != nil {
			return nil, fmt.Errorf("inotify: %w", err)
		}
		if _, err := unix.InotifyAddWatch(s.ino, filepath.Join(s.dir, "run"), unix.IN_OPEN); err != nil {
			return nil, fmt.Errorf("inotify %s: %w", s.dir, err)
		}
		s.cmd = exec.Command(s.argv[0], append(s.argv[1:], s.dir)...)
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		pid, err := s.waitService(0, 5*time.Second)
		if err != nil {
			return nil, err
		}
		s.pid, s.up = pid, time.Now()
	}
	for round := range restartRounds {
		// Each round starts with the next supervisor, so that none is
		// always the first one killed after the previous round's sleep.
		for i := range sups {
			s := sups[(round+i)%len(sups)]
			if wait := time.Until(s.up.Add(1100 * time.Millisecond)); wait > 0 {
				time.Sleep(wait)
			}
			s.drain()
			t0 := time.Now()
			if err := syscall.Kill(s.pid, syscall.SIGKILL); err != nil {
				return nil, fmt.Errorf("%s: round %d: kill %d: %w", s.name, round, s.pid, err)
			}
			if err := s.waitExec(5 * time.Second); err != nil {
				return nil, fmt.Errorf("round %d: %w", round, err)
			}
			s.lat = append(s.lat, time.Since(t0))
			pid, err := s.waitService(s.pid, 5*time.Second)
			if err != nil {
				return nil, fmt.Errorf("round %d: %w", round, err)
			}
			s.pid, s.up = pid, time.Now()
		}
	}
	var res []Result
	for _, s := range sups {
		slices.Sort(s.lat)
		med := s.lat[len(s.lat)/2]
		p90 := s.lat[len(s.lat)*9/10]
		res = append(res, Result{
			Metric: "restart latency (median)", Program: s.name,
			Value: float64(med.Microseconds()) / 1000, Unit: "ms", Better: Lower,
			Note: fmt.Sprintf("p90 %.3f ms, %d kills", float64(p90.Microseconds())/1000, len(s.lat)),
		})
	}
	return res, nil
}

// drain discards the inotify events seen so far (the shell opens ./run
// again to read it).
func (s *restartSupervisor) drain() {
	var buf [4096]byte
	for {
		if n, err := unix.Read(s.ino, buf[:]); n <= 0 || err != nil {
			return
		}
	}
}

// waitExec sleeps until dir/run is opened (by execve).
func (s *restartSupervisor) waitExec(timeout time.Duration) error {
	fds := []unix.PollFd{{Fd: int32(s.ino), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(timeout.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: poll: %w", s.name, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: ./run not executed within %v", s.name, timeout)
		}
		return nil
	}
}

// waitService polls the supervisor's children until one other than old has
// executed ./run, and returns its pid.
func (s *restartSupervisor) waitService(old int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, pid := range childrenOf(s.cmd.Process.Pid) {
			if pid == old {
				continue
			}
			comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
			if err != nil {
				continue
			}
			if c := strings.TrimSpace(string(comm)); c == "run" || c == "sleep" {
				return pid, nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("%s: no new service process within %v", s.name, timeout)
}

// childrenOf lists the children of pid from /proc/PID/task/*/children (a
// multi-threaded supervisor's children hang off the thread that forked them).
func childrenOf(pid int) []int {
	base := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(base)
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(base + "/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// stop asks the supervisor to take the service down and exit (every one of
// them reads "d" and "x" on supervise/control), and kills what remains.
func (s *restartSupervisor) stop() {
	if s.ino > 0 {
		unix.Close(s.ino)
	}
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	if f, err := os.OpenFile(filepath.Join(s.dir, "supervise", "control"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Write([]byte("dx"))
		f.Close()
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		// Still running: kill the service first (its pid is not reused
		// while its parent has not reaped it), then the supervisor.
		if err := syscall.Kill(s.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			fmt.Fprintf(os.Stderr, "bench restart: %s: kill %d: %v\n", s.name, s.pid, err)
		}
		s.cmd.Process.Kill()
		<-done
	}
}
