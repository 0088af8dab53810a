package svscan

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/reaper"
	"github.com/ichi-init/ichi/internal/testutil"
)

// TestSvscanTool runs the standalone tool, as daemontools' svscan is run
// under another init: services start, unlogged output goes to the tool's own
// stdout, SIGALRM rescans, svscanctl asks for a rescan, and SIGTERM stops
// everything and exits 0.
func TestSvscanTool(t *testing.T) {
	svscan := testutil.ToolLink(t, "svscan")
	svscanctl := testutil.ToolLink(t, "svscanctl")
	dir := t.TempDir()
	writeService(t, filepath.Join(dir, "a"), "echo a says hi; exec sleep 1000")
	writeService(t, filepath.Join(dir, "b"), "exec sleep 1000")
	writeFile(t, filepath.Join(dir, "b/log/multilog"), "./main\n", 0o644)
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	c, err := testReaper.Spawn(reaper.Cmd{
		Path:  svscan,
		Args:  []string{"svscan", dir},
		Env:   os.Environ(),
		Files: []*os.File{nil, out, out},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Signal(syscall.SIGKILL)
	pidOf := func(svc string) int {
		b, _ := os.ReadFile(filepath.Join(dir, svc, "supervise/pid"))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return pid
	}
	waitFor(t, 10*time.Second, "a and b up", func() bool { return pidOf("a") > 0 && pidOf("b") > 0 })
	waitFor(t, 5*time.Second, "a's output on the tool's stdout", func() bool {
		b, _ := os.ReadFile(out.Name())
		return strings.Contains(string(b), "a says hi\n")
	})
	// A log/ added to a, picked up by the rescan of SIGALRM.
	writeFile(t, filepath.Join(dir, "a/log/multilog"), "./main\n", 0o644)
	c.Signal(syscall.SIGALRM)
	waitFor(t, 10*time.Second, "a restarted into its log", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "a/log/main/current"))
		return strings.Contains(string(b), "a says hi\n")
	})
	if o, code := runTool(t, svscanctl, dir); code != 0 {
		t.Errorf("svscanctl: exit %d: %s", code, o)
	}
	aPid, bPid := pidOf("a"), pidOf("b")
	c.Signal(syscall.SIGTERM)
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("svscan still running 20 s after TERM")
	}
	if code := c.Status().Code(); code != 0 {
		b, _ := os.ReadFile(out.Name())
		t.Errorf("svscan exited %d, want 0; output:\n%s", code, b)
	}
	for _, pid := range []int{aPid, bPid} {
		if pid > 0 && syscall.Kill(pid, 0) == nil {
			t.Errorf("service pid %d survived the tool's TERM", pid)
		}
	}
	if o, code := runTool(t, svscanctl, dir); code != 111 || !strings.Contains(o, "no scanner is running") {
		t.Errorf("svscanctl with no scanner: exit %d, %q", code, o)
	}
	if o, code := runTool(t, svscan, "a", "b"); code != 100 || !strings.Contains(o, "usage") {
		t.Errorf("svscan a b: exit %d, %q; want usage, 100", code, o)
	}
}

// TestSvscanToolOnReadOnlyDirectory: a scan directory on a read-only file
// system (services' supervise/ symlinked to a writable place, as runit
// recommends) runs, without the lock and the control FIFO, and says so.
func TestSvscanToolOnReadOnlyDirectory(t *testing.T) {
	testutil.NeedRoot(t)
	unshare := testutil.Need(t, "unshare")
	svscan := testutil.ToolLink(t, "svscan")
	dir := t.TempDir()
	state := t.TempDir()
	writeService(t, filepath.Join(dir, "a"), "echo x > "+filepath.Join(state, "started")+"; exec sleep 1000")
	if err := os.Symlink(filepath.Join(state, "supervise-a"), filepath.Join(dir, "a/supervise")); err != nil {
		t.Fatal(err)
	}
	// .svscan exists (made while the file system was writable), its lock
	// file does not.
	if err := os.Mkdir(filepath.Join(dir, ControlDir), 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	script := `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" "$1"`
	c, err := testReaper.Spawn(reaper.Cmd{
		Path:  unshare,
		Args:  []string{"unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", dir, svscan},
		Env:   os.Environ(),
		Files: []*os.File{nil, out, out},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Signal(syscall.SIGKILL)
	waitFor(t, 10*time.Second, "a started", func() bool { return exists(filepath.Join(state, "started")) })
	c.Signal(syscall.SIGTERM)
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("svscan still running 20 s after TERM")
	}
	b, _ := os.ReadFile(out.Name())
	if code := c.Status().Code(); code != 0 {
		t.Errorf("exit %d, want 0; output:\n%s", code, b)
	}
	if !strings.Contains(string(b), "no lock against a second scanner") {
		t.Errorf("no warning about the read-only directory:\n%s", b)
	}
}
