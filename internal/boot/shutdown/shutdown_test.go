package shutdown

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/boot/mount"
	"github.com/ichi-init/ichi/internal/boot/power"
	"github.com/ichi-init/ichi/internal/reaper"
	"github.com/ichi-init/ichi/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestIsKernelThread(t *testing.T) {
	tests := []struct {
		stat string
		want bool
	}{
		{"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0", true},
		{"1 (init) S 0 1 1 0 -1 4194560 0 0", false},
		{"77 (a) b) (c) S 1 77 77 0 -1 4194304 0", false},
		{"9 (kworker/0:1-events) I 2 0 0 0 -1 69238880 0", true},
		{"garbage", false},
	}
	for _, tt := range tests {
		if got := isKernelThread([]byte(tt.stat)); got != tt.want {
			t.Errorf("isKernelThread(%q) = %v", tt.stat, got)
		}
	}
}

// The namespace test: this binary runs again as PID 1 of a new PID and
// mount namespace (the child below), with services, loggers, stray
// processes and mounts of its own, runs the whole sequence with reboot(2)
// replaced, and reports what it saw.
const childEnv = "ICHI_SHUTDOWN_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(child(dir))
	}
	os.Exit(m.Run())
}

type report struct {
	Events     []string // in the order they happened
	Console    string
	RebootCmd  int
	LeftAtBoot []int
	Mounts     []string // mount points under dir when reboot(2) was called
	ReadOnly   []string
	Err        string
}

func child(dir string) int {
	var r report
	fail := func(err error) int {
		r.Err = err.Error()
		json.NewEncoder(os.Stdout).Encode(r)
		return 1
	}
	if os.Getpid() != 1 {
		return fail(fmt.Errorf("pid %d, not 1", os.Getpid()))
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail(err)
	}
	// /proc of this PID namespace, so that Processes sees only ours.
	if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		return fail(err)
	}
	for _, m := range []string{"a", "a/b", "c"} {
		p := filepath.Join(dir, m)
		os.MkdirAll(p, 0o755)
		if err := unix.Mount("tmpfs", p, "tmpfs", 0, "size=64k"); err != nil {
			return fail(err)
		}
	}
	// A file held open (for reading: one open for writing would make the
	// read-only remount fail too) keeps c busy: it must end up read-only.
	os.WriteFile(filepath.Join(dir, "c", "busy"), nil, 0o644)
	busy, err := os.Open(filepath.Join(dir, "c", "busy"))
	if err != nil {
		return fail(err)
	}
	defer busy.Close()

	rp := reaper.Start(reaper.Options{})
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	spawn := func(script string) *reaper.Child {
		c, err := rp.Spawn(reaper.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", script},
			Env: []string{"PATH=/usr/bin:/bin"}, Files: []*os.File{devnull, devnull, devnull}})
		if err != nil {
			panic(err)
		}
		return c
	}
	service := spawn("exec sleep 1000")
	// Strays: one that leaves on TERM, one that ignores it and needs KILL,
	// and an orphan (its parent exits) that the reaper adopts.
	spawn("exec sleep 1000")
	spawn(`trap "" TERM; exec sleep 1000`)
	spawn("sleep 1000 & exit 0")
	time.Sleep(200 * time.Millisecond)

	alive := func(c *reaper.Child) bool {
		select {
		case <-c.Done():
			return false
		default:
			return true
		}
	}
	var console bytes.Buffer
	steps := Steps{
		StopServices: func(d time.Duration) {
			r.Events = append(r.Events, "stop-services")
			service.Signal(syscall.SIGTERM)
			<-service.Done()
		},
		ServiceTimeout: time.Second,
		DrainLoggers: func() {
			left, _ := Processes("/proc")
			r.Events = append(r.Events, fmt.Sprintf("drain-loggers service-alive=%v others=%d", alive(service), len(left)))
		},
		KillTimeout: 500 * time.Millisecond,
		Kill: func(sig unix.Signal) error {
			r.Events = append(r.Events, "kill-"+unix.SignalName(sig))
			return unix.Kill(-1, sig)
		},
		Under: dir,
		Sync:  func() { r.Events = append(r.Events, "sync") },
		Reboot: func(cmd int) error {
			r.Events = append(r.Events, "reboot")
			r.RebootCmd = cmd
			r.LeftAtBoot, _ = Processes("/proc")
			infos, _ := mount.ReadMountinfo("")
			for _, in := range infos {
				if strings.HasPrefix(in.MountPoint, dir) {
					r.Mounts = append(r.Mounts, in.MountPoint)
					if strings.HasPrefix(in.Options, "ro") {
						r.ReadOnly = append(r.ReadOnly, in.MountPoint)
					}
				}
			}
			return nil
		},
		Console: &console,
	}
	if err := Run(steps, power.Poweroff); err != nil {
		return fail(err)
	}
	r.Console = console.String()
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

func TestShutdownInNamespace(t *testing.T) {
	testutil.NeedRoot(t)
	dir := t.TempDir()
	self, _ := os.Executable()
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var r report
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		t.Fatalf("%v %v: %s", err, jerr, out)
	}
	if err != nil || r.Err != "" {
		t.Fatalf("child: %v %s", err, r.Err)
	}
	want := []string{
		"stop-services",
		// Loggers drain after the service is down, before the rest
		// is killed: the three strays and the orphan still run.
		"drain-loggers service-alive=false others=3",
		"kill-SIGTERM", "kill-SIGCONT", "kill-SIGKILL",
		"sync", "sync", "reboot",
	}
	if strings.Join(r.Events, "\n") != strings.Join(want, "\n") {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(r.Events, "\n"), strings.Join(want, "\n"))
	}
	if r.RebootCmd != unix.LINUX_REBOOT_CMD_POWER_OFF {
		t.Errorf("reboot(2) cmd %#x", r.RebootCmd)
	}
	if len(r.LeftAtBoot) != 0 {
		t.Errorf("processes left at reboot(2): %v", r.LeftAtBoot)
	}
	// a/b and a unmounted (child first), c busy and so read-only.
	if strings.Join(r.Mounts, " ") != dir+"/c" || strings.Join(r.ReadOnly, " ") != dir+"/c" {
		t.Errorf("mounts at reboot(2): %v, read-only %v", r.Mounts, r.ReadOnly)
	}
	lines := regexp.MustCompile(`(?m)^ichi: shutdown: (.*?)(?: \([0-9.]+[µnm]?s\))?$`).FindAllStringSubmatch(r.Console, -1)
	var steps []string
	for _, l := range lines {
		steps = append(steps, l[1])
	}
	wantSteps := []string{"poweroff", "services stopped", "loggers drained", "killed 3 remaining processes", "synced",
		"unmounted 2 file systems, 1 read-only", "reboot(2) poweroff"}
	if strings.Join(steps, "|") != strings.Join(wantSteps, "|") {
		t.Errorf("console:\n%s\nsteps %q\nwant  %q", r.Console, steps, wantSteps)
	}
}
