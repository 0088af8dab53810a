package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/reaper"
	"github.com/ichi-init/ichi/internal/svstatus"
)

// The test binary doubles as the services the tests supervise: run scripts
// exec it with ICHI_SUPERVISE_HELPER set.
func TestMain(m *testing.M) {
	switch os.Getenv("ICHI_SUPERVISE_HELPER") {
	case "signals":
		helperSignals()
		return
	case "notify":
		helperNotify()
		return
	}
	os.Exit(m.Run())
}

// helperSignals records each signal it gets, one name per line, in the file
// "signals" of its working directory, after writing its pid to "started".
func helperSignals() {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, syscall.SIGHUP, syscall.SIGALRM, syscall.SIGINT, syscall.SIGTERM,
		syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCONT)
	os.WriteFile("started.new", []byte(strconv.Itoa(os.Getpid())), 0o644)
	os.Rename("started.new", "started")
	f, err := os.OpenFile("signals", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		os.Exit(1)
	}
	for sig := range ch {
		fmt.Fprintln(f, sig.(syscall.Signal).String())
	}
}

// helperNotify sends READY=1 to $NOTIFY_SOCKET, then waits to be killed.
func helperNotify() {
	addr := os.Getenv("NOTIFY_SOCKET")
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper notify:", err)
		os.Exit(1)
	}
	time.Sleep(100 * time.Millisecond)
	c.Write([]byte("STATUS=starting\nREADY=1\n"))
	select {}
}

// helperScript is a run script that execs the test binary as helper mode.
func helperScript(mode string) string {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("#!/bin/sh\nICHI_SUPERVISE_HELPER=%s exec %s\n", mode, exe)
}

// newReaper starts a reaper for one test. Tests that use it must not run in
// parallel: a reaper reaps every child of the test process.
func newReaper(t *testing.T) *reaper.Reaper {
	t.Helper()
	r := reaper.Start(reaper.Options{ChildrenOnly: true})
	t.Cleanup(r.Stop)
	return r
}

// service makes a service directory with the given files (name -> content;
// "run" and "finish" are made executable).
func service(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "svc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		mode := os.FileMode(0o644)
		if name == "run" || name == "finish" || strings.HasSuffix(name, "/run") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// running is a supervisor whose Run is going in a goroutine.
type running struct {
	sv   *Supervisor
	err  chan error
	logs *logBuffer
}

type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuffer) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// start creates a supervisor on dir and runs it until the test ends.
func start(t *testing.T, r *reaper.Reaper, dir string, mod func(*Config)) *running {
	t.Helper()
	logs := &logBuffer{}
	cfg := Config{Dir: dir, Reaper: r, Env: []string{"PATH=/usr/bin:/bin"}, Logf: logs.logf, KillAfter: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	sv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rs := &running{sv: sv, err: make(chan error, 1), logs: logs}
	go func() { rs.err <- sv.Run(context.Background()) }()
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() { sv.Shutdown(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("Shutdown of %s did not return", dir)
		}
	})
	return rs
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState polls the supervisor's State until cond holds.
func waitState(t *testing.T, sv *Supervisor, what string, cond func(State) bool) State {
	t.Helper()
	var st State
	waitFor(t, what, 5*time.Second, func() bool { st = sv.State(); return cond(st) })
	return st
}

// readStatus reads and parses DIR/supervise/status.
func readStatus(t *testing.T, dir string) svstatus.Status {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "supervise", "status"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := svstatus.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// runTool runs a program through the reaper (the test process must not
// wait4 behind its back) and returns its combined output and exit code.
func runTool(t *testing.T, r *reaper.Reaper, dir, path string, args ...string) (string, int) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	c, err := r.Spawn(reaper.Cmd{
		Path:  path,
		Args:  append([]string{filepath.Base(path)}, args...),
		Env:   os.Environ(),
		Dir:   dir,
		Files: []*os.File{null, pw, pw},
	})
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(pr)
	st := c.Wait()
	return string(out), st.Code()
}

// fileLines reads a file's lines, or none when it does not exist yet.
func fileLines(path string) []string {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// listenNotifyDial connects a datagram socket to a notify socket.
func listenNotifyDial(addr string) (*net.UnixConn, error) {
	return net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
}
