package container

// Tests under a real OCI runtime: crun runs a bundle whose rootfs holds the
// static ichi as /sbin/init and busybox-static with its applet links.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/testutil"
)

var containerSeq atomic.Int64

// crunCommand is crun with args, without cgroup management. crun refuses a
// "hybrid" host (cgroup v1 controllers, and a cgroup2 hierarchy at
// /sys/fs/cgroup/unified that holds controllers too); there it runs in a
// private mount namespace where the cgroup2 mount is gone, which changes
// nothing on the host.
func crunCommand(args ...string) *exec.Cmd {
	args = append([]string{"--cgroup-manager=disabled"}, args...)
	if ctl, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil && len(bytes.TrimSpace(ctl)) > 0 {
		return exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c",
			`umount /sys/fs/cgroup/unified && exec crun "$@"`, "crun"}, args...)...)
	}
	return exec.Command("crun", args...)
}

// bundle is an OCI bundle made for one test.
type bundle struct {
	dir, rootfs string
}

// newBundle makes a bundle whose process is /sbin/init with initArgs.
func newBundle(t *testing.T, initArgs ...string) *bundle {
	t.Helper()
	testutil.NeedRoot(t)
	crun := testutil.Need(t, "crun")
	bb := "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		testutil.Missing(t, "busybox-static: %v", err)
	}
	b := &bundle{dir: t.TempDir()}
	b.rootfs = filepath.Join(b.dir, "rootfs")
	for _, d := range []string{"bin", "sbin", "proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(b.rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, bb, filepath.Join(b.rootfs, "bin", "busybox"))
	copyFile(t, testutil.Ichi(t), filepath.Join(b.rootfs, "sbin", "init"))
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		os.Symlink("busybox", filepath.Join(b.rootfs, "bin", applet))
	}
	cmd := exec.Command(crun, "spec")
	cmd.Dir = b.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crun spec: %v\n%s", err, out)
	}
	b.editConfig(t, func(c map[string]any) {
		proc := c["process"].(map[string]any)
		proc["terminal"] = false
		proc["args"] = append([]string{"/sbin/init"}, initArgs...)
		c["root"].(map[string]any)["readonly"] = false
		delete(c["linux"].(map[string]any), "resources")
	})
	return b
}

func (b *bundle) editConfig(t *testing.T, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(b.dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	edit(c)
	if data, err = json.MarshalIndent(c, "", "\t"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// running is a container started with crun run.
type running struct {
	t      *testing.T
	id     string
	cmd    *exec.Cmd
	lines  chan string
	stderr *bytes.Buffer
	done   chan struct{}
}

// run starts the bundle as a container with a unique id; it is deleted when
// the test ends.
func (b *bundle) run(t *testing.T) *running {
	t.Helper()
	id := fmt.Sprintf("ichi-test-%d-%d-%d", os.Getpid(), containerSeq.Add(1), time.Now().UnixNano()%1e6)
	cmd := crunCommand("run", "--bundle", b.dir, id)
	c := &running{t: t, id: id, cmd: cmd, lines: make(chan string, 100), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	go func() {
		cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		crunCommand("delete", "-f", id).Run()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// expect waits for a line of the container's output that contains want,
// skipping others, and returns it.
func (c *running) expect(want string) string {
	c.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case got, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("output ended before %q; stderr: %s", want, c.stderr)
			}
			if strings.Contains(got, want) {
				return got
			}
			c.t.Logf("container: %s", got)
		case <-timeout:
			c.t.Fatalf("no line with %q after 20 s; stderr: %s", want, c.stderr)
		}
	}
}

// wait returns crun run's exit status, which is the container's.
func (c *running) wait() int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("container %s still running after 30 s; stderr: %s", c.id, c.stderr)
	}
	// Drain what is left so that it shows in the log.
	for l := range c.lines {
		c.t.Logf("container: %s", l)
	}
	return c.cmd.ProcessState.ExitCode()
}

func TestCrunExitStatus(t *testing.T) {
	tests := []struct {
		script string
		args   []string
		want   int
	}{
		{"exit 0", nil, 0},
		{"exit 7", nil, 7},
		{"kill -TERM $$", nil, 128 + 15},
		{"exit 7", []string{"-e", "7"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			args := append(append([]string{}, tt.args...), "--", "/bin/sh", "-c", tt.script)
			c := newBundle(t, args...).run(t)
			if got := c.wait(); got != tt.want {
				t.Errorf("container exited %d, want %d; stderr: %s", got, tt.want, c.stderr)
			}
		})
	}
}

func TestCrunKillIsForwarded(t *testing.T) {
	script := `trap 'echo got TERM; exit 42' TERM; echo ready; while :; do sleep 0.05; done`
	c := newBundle(t, "--", "/bin/sh", "-c", script).run(t)
	c.expect("ready")
	if out, err := crunCommand("kill", c.id, "TERM").CombinedOutput(); err != nil {
		t.Fatalf("crun kill: %v\n%s", err, out)
	}
	c.expect("got TERM")
	if got := c.wait(); got != 42 {
		t.Errorf("container exited %d, want 42", got)
	}
}

func TestCrunReapsOrphans(t *testing.T) {
	// Fifty orphans come to init (PID 1 of the container) and exit; the
	// program then counts zombies and leftover sleeps in its /proc.
	script := `i=0; while [ $i -lt 50 ]; do (sleep 0.2 &); i=$((i+1)); done
ppid=$(for p in $(pidof sleep); do cut -d' ' -f4 /proc/$p/stat; done | sort -u | tr '\n' ' ')
echo "orphans' parent: $ppid"
n=0; while [ $n -lt 100 ]; do
	z=$(grep -l '^State:.Z' /proc/[0-9]*/status 2>/dev/null | wc -l)
	s=$(pidof sleep | wc -w)
	[ "$z" = 0 ] && [ "$s" = 0 ] && break
	sleep 0.1; n=$((n+1))
done
echo "zombies=$z sleeps=$s"`
	c := newBundle(t, "--", "/bin/sh", "-c", script).run(t)
	if got := c.expect("orphans' parent:"); strings.TrimSpace(strings.TrimPrefix(got, "orphans' parent:")) != "1" {
		t.Errorf("%s, want 1 (init)", got)
	}
	if got := c.expect("zombies="); got != "zombies=0 sleeps=0" {
		t.Errorf("after the orphans exited: %s", got)
	}
	if got := c.wait(); got != 0 {
		t.Errorf("container exited %d", got)
	}
}

func TestCrunServicesStopGracefully(t *testing.T) {
	b := newBundle(t, "-S", "/service", "-t", "5")
	_, logFile := makeServices(t, b.rootfs)
	c := b.run(t)
	c.expect("chatty: hello from chatty")
	waitFile(t, logFile, "started\n")
	if out, err := crunCommand("kill", c.id, "TERM").CombinedOutput(); err != nil {
		t.Fatalf("crun kill: %v\n%s", err, out)
	}
	if got := c.wait(); got != 0 {
		t.Errorf("container exited %d after TERM, want 0; stderr: %s", got, c.stderr)
	}
	checkLastWords(t, logFile)
}

func TestCrunExampleBundle(t *testing.T) {
	// examples/container/bundle.sh builds a bundle; run it in a network
	// namespace of its own (the example shares the host's) and stop it.
	testutil.NeedRoot(t)
	testutil.Need(t, "crun")
	b := &bundle{dir: t.TempDir()}
	b.rootfs = filepath.Join(b.dir, "rootfs")
	script := filepath.Join(testutil.ModuleRoot(), "examples", "container", "bundle.sh")
	cmd := exec.Command("/bin/sh", script, b.dir)
	cmd.Env = append(os.Environ(), "ICHI_BIN="+testutil.Ichi(t))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bundle.sh: %v\n%s", err, out)
	}
	b.editConfig(t, func(c map[string]any) {
		linux := c["linux"].(map[string]any)
		linux["namespaces"] = append(linux["namespaces"].([]any), map[string]any{"type": "network"})
	})
	c := b.run(t)
	c.expect("app: up")
	logFile := filepath.Join(b.rootfs, "service", "clock", "log", "main", "current")
	waitFile(t, logFile, "clock: started\n")
	if out, err := crunCommand("kill", c.id, "TERM").CombinedOutput(); err != nil {
		t.Fatalf("crun kill: %v\n%s", err, out)
	}
	c.expect("app: stopping")
	if got := c.wait(); got != 0 {
		t.Errorf("example exited %d after TERM, want 0; stderr: %s", got, c.stderr)
	}
	data, _ := os.ReadFile(logFile)
	if !strings.HasSuffix(string(data), "clock: stopping\n") {
		t.Errorf("the clock's log does not end with its last words:\n%s", data)
	}
}
