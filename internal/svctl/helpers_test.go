package svctl

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/svstatus"
	"github.com/ichi-init/ichi/internal/testutil"
	"golang.org/x/sys/unix"
)

// result is what a tool did: its output and exit status.
type result struct {
	stdout, stderr string
	code           int
}

// runTool runs path with args in the working directory dir.
func runTool(t *testing.T, dir, path string, args ...string) result {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", path, err)
	}
	return result{out.String(), errb.String(), code}
}

// pair is a tool in its two versions: Debian's and ichi's.
type pair struct{ ref, ichi string }

func tools(t *testing.T, name string) pair {
	t.Helper()
	return pair{ref: testutil.Need(t, name), ichi: testutil.ToolLink(t, name)}
}

// compare runs both versions of a tool with the same arguments in dir and
// fails when their outputs or statuses differ. It returns ichi's result.
func (p pair) compare(t *testing.T, dir string, args ...string) result {
	t.Helper()
	want := runTool(t, dir, p.ref, args...)
	got := runTool(t, dir, p.ichi, args...)
	if got != want {
		t.Errorf("%s %q:\n ichi:   %+v\n debian: %+v", filepath.Base(p.ichi), args, got, want)
	}
	return got
}

// fakeSupervisor makes dir look supervised without a supervisor: it creates
// dir/supervise with the control and ok FIFOs and holds both open for
// reading until the test ends. Control returns what tools wrote to control.
type fakeSupervisor struct {
	dir         string
	control, ok *os.File
}

// stop closes the fake supervisor's end of supervise/ok, as a supervisor
// that exits does.
func (f *fakeSupervisor) stop() { f.ok.Close() }

func newFake(t *testing.T, dir string) *fakeSupervisor {
	t.Helper()
	sv := filepath.Join(dir, "supervise")
	if err := os.MkdirAll(sv, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"control", "ok"} {
		if err := unix.Mkfifo(filepath.Join(sv, f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	open := func(name string) *os.File {
		fd, err := unix.Open(filepath.Join(sv, name), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(fd), name)
		t.Cleanup(func() { f.Close() })
		return f
	}
	return &fakeSupervisor{dir: dir, ok: open("ok"), control: open("control")}
}

// commands returns the bytes written to supervise/control so far.
func (f *fakeSupervisor) commands(t *testing.T) string {
	t.Helper()
	var out []byte
	buf := make([]byte, 256)
	for {
		n, err := unix.Read(int(f.control.Fd()), buf)
		if n > 0 {
			out = append(out, buf[:n]...)
			continue
		}
		if err == unix.EAGAIN || err == nil {
			return string(out)
		}
		t.Fatalf("read control: %v", err)
	}
}

// writeStatus writes raw status bytes into dir/supervise/status.
func writeStatus(t *testing.T, dir string, st svstatus.Status, size int) {
	t.Helper()
	b := st.Encode()
	if err := os.WriteFile(filepath.Join(dir, "supervise", "status"), b[:size], 0o644); err != nil {
		t.Fatal(err)
	}
}

// serviceDir makes a service directory under parent whose run script is
// script.
func serviceDir(t *testing.T, parent, name, script string) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run"), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startSupervisor runs the supervisor prog (daemontools' supervise, runit's
// runsv or ichi's supervise tool) on dir in a process group of its own. The
// test's cleanup tells it to stop the service and exit (svc -dxk), and kills
// the whole group if it has not exited within 10 seconds.
func startSupervisor(t *testing.T, prog, dir string) {
	t.Helper()
	cmd := exec.Command(prog, dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		if fd, err := openFIFOWrite(filepath.Join(dir, "supervise", "control")); err == nil {
			writeBlocking(fd, []byte("dxk"))
			unix.Close(fd)
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() && errb.Len() > 0 {
			t.Logf("%s %s said: %s", prog, dir, errb.String())
		}
	})
	waitFor(t, "supervisor on "+dir, func() bool {
		_, err := os.Stat(filepath.Join(dir, "supervise", "status"))
		return err == nil && probe(dir) == nil
	})
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	pidRE     = regexp.MustCompile(`pid [0-9]+`)
	secondsRE = regexp.MustCompile(`[0-9]+ seconds`)
)

// normalise replaces pids, seconds and the directory names in svstat's
// output by fixed words.
func normalise(out string, dirs ...string) string {
	for _, d := range dirs {
		out = strings.ReplaceAll(out, d+": ", "DIR: ")
	}
	out = pidRE.ReplaceAllString(out, "pid N")
	return secondsRE.ReplaceAllString(out, "N seconds")
}
