package supervise

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/reaper"
)

// TestNotifyHubShared: supervisors sharing one hub each get the READY=1 of
// their own ./run's session (./run itself, or a process it started), and
// nothing from another service or from outside every service.
func TestNotifyHubShared(t *testing.T) {
	r := newReaper(t)
	addr := filepath.Join(t.TempDir(), "notify")
	hub, err := NewNotifyHub(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := hub.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Lstat(addr); !os.IsNotExist(err) {
			t.Errorf("socket file after Close: %v", err)
		}
	}()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	shared := func(c *Config) { c.Notify = hub }
	self := start(t, r, service(t, map[string]string{"run": helperScript("notify")}), shared)
	// The shell stays ./run; the helper is a process of its session.
	child := start(t, r, service(t, map[string]string{
		"run": "#!/bin/sh\nICHI_SUPERVISE_HELPER=notify " + exe + "\n",
	}), shared)
	quietDir := service(t, map[string]string{"run": "#!/bin/sh\necho \"$NOTIFY_SOCKET\" > socket\nexec sleep 100\n"})
	quiet := start(t, r, quietDir, shared)
	waitState(t, self.sv, "ready (./run)", func(s State) bool { return s.Ready })
	waitState(t, child.sv, "ready (a process of the session)", func(s State) bool { return s.Ready })
	waitState(t, quiet.sv, "up", func(s State) bool { return s.Up })
	waitFor(t, "socket", 5*time.Second, func() bool { return len(fileLines(filepath.Join(quietDir, "socket"))) == 1 })
	if got := fileLines(filepath.Join(quietDir, "socket")); got[0] != addr {
		t.Errorf("NOTIFY_SOCKET=%q, want the hub's %q", got[0], addr)
	}
	if _, err := os.Lstat(filepath.Join(quietDir, "supervise", "notify")); !os.IsNotExist(err) {
		t.Errorf("a supervisor with a shared hub made its own socket (%v)", err)
	}
	c, err := listenNotifyDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("READY=1\n"))
	c.Close()
	time.Sleep(200 * time.Millisecond)
	if quiet.sv.State().Ready {
		t.Error("a datagram from outside every service made a service ready")
	}
	// A restart: the new ./run is watched, the old one's session is not.
	pid := self.sv.State().Pid
	self.sv.Control('k')
	st := waitState(t, self.sv, "restarted and ready", func(s State) bool { return s.Up && s.Pid != pid && s.Ready })
	if st.Restarts != 1 {
		t.Errorf("Restarts = %d, want 1", st.Restarts)
	}
}

// TestNotifyHubEarly: a READY=1 that comes before the supervisor watches its
// ./run is kept and handed over, unless it came before the start began.
func TestNotifyHubEarly(t *testing.T) {
	r := newReaper(t)
	hub, err := NewNotifyHub(filepath.Join(t.TempDir(), "notify"))
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	before := time.Now()
	c, err := r.Spawn(reaper.Cmd{
		Path:   exe,
		Args:   []string{exe},
		Env:    []string{"ICHI_SUPERVISE_HELPER=notify", "NOTIFY_SOCKET=" + hub.Addr()},
		Files:  []*os.File{null, null, null},
		Setsid: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Signal(9); c.Wait() }()
	pending := func() bool {
		hub.mu.Lock()
		defer hub.mu.Unlock()
		for _, p := range hub.pending {
			if p.session == c.Pid {
				return true
			}
		}
		return false
	}
	waitFor(t, "the datagram kept", 5*time.Second, pending)
	after := time.Now()
	got := make(chan int, 2)
	ready := func(session int) { got <- session }

	// Watching from after the datagram: too late to be this run's.
	unwatch := hub.watch(c.Pid, after, ready)
	select {
	case s := <-got:
		t.Errorf("a datagram older than the start was handed over (session %d)", s)
	default:
	}
	unwatch()
	if pending() {
		t.Error("the stale datagram is still kept")
	}

	hub.deliver(c.Pid, after)
	unwatch = hub.watch(c.Pid, before, ready)
	defer unwatch()
	select {
	case s := <-got:
		if s != c.Pid {
			t.Errorf("handed over session %d, want %d", s, c.Pid)
		}
	default:
		t.Error("the kept datagram was not handed over")
	}
	// Watched now: delivered at once.
	hub.deliver(c.Pid, time.Now())
	select {
	case <-got:
	default:
		t.Error("a datagram of a watched session was not delivered")
	}
}

// TestNotifyHubPendingBound: unclaimed notifications are bounded in number
// and in age.
func TestNotifyHubPendingBound(t *testing.T) {
	hub, err := NewNotifyHub(filepath.Join(t.TempDir(), "notify"))
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	t0 := time.Now()
	for i := range 3 * pendingMax {
		hub.deliver(os.Getpid(), t0.Add(time.Duration(i)*time.Millisecond))
	}
	hub.mu.Lock()
	n := len(hub.pending)
	hub.mu.Unlock()
	if n != pendingMax {
		t.Errorf("%d kept, want at most %d", n, pendingMax)
	}
	hub.deliver(os.Getpid(), t0.Add(pendingFor+time.Second))
	hub.mu.Lock()
	n = len(hub.pending)
	hub.mu.Unlock()
	if n != 1 {
		t.Errorf("%d kept %v later, want 1: the expired ones gone", n, pendingFor)
	}
}

func TestNotifyAddr(t *testing.T) {
	short := "/service/x/supervise/notify"
	if got := NotifyAddr(short); got != short {
		t.Errorf("NotifyAddr(%q) = %q", short, got)
	}
	long := "/" + strings.Repeat("d", 120) + "/supervise/notify"
	got := NotifyAddr(long)
	if !strings.HasPrefix(got, "@ichi-notify/") || got != NotifyAddr(long) || got == NotifyAddr(long+"2") {
		t.Errorf("NotifyAddr(long) = %q", got)
	}
}

// TestDescriptorsPerSupervisor counts the descriptors a supervisor holds
// while its service is down: one (the control FIFO) with a shared hub, two
// with its own notification socket.
func TestDescriptorsPerSupervisor(t *testing.T) {
	r := newReaper(t)
	hub, err := NewNotifyHub(filepath.Join(t.TempDir(), "notify"))
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	const n = 50
	for _, tc := range []struct {
		name   string
		notify *NotifyHub
		want   int
	}{
		{"shared hub", hub, 1},
		{"own socket", nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs := make([]string, n)
			for i := range dirs {
				dirs[i] = service(t, map[string]string{"run": "#!/bin/sh\nexec sleep 100\n", "down": ""})
			}
			before := countFDs(t)
			var svs []*Supervisor
			for _, dir := range dirs {
				sv, err := New(Config{Dir: dir, Reaper: r, Notify: tc.notify})
				if err != nil {
					t.Fatal(err)
				}
				svs = append(svs, sv)
			}
			got := countFDs(t) - before
			for _, sv := range svs {
				sv.Shutdown()
			}
			if got != tc.want*n {
				t.Errorf("%d supervisors hold %d descriptors, want %d each", n, got, tc.want)
			}
			if left := countFDs(t) - before; left != 0 {
				t.Errorf("%d descriptors left after Shutdown", left)
			}
		})
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
