package netconf

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/testutil"
)

// The network tests run netconf in a process of its own inside a network
// namespace: netlink and packet sockets belong to the namespace of the
// thread that opens them, and a Go program has many threads, so the only
// safe way is a whole process in the namespace, as init is in a machine.
// TestMain runs that child when childEnv names what to do.
const childEnv = "ICHI_NETCONF_CHILD"

func TestMain(m *testing.M) {
	if what := os.Getenv(childEnv); what != "" {
		os.Exit(child(what))
	}
	os.Exit(m.Run())
}

// childEvent is one line the child prints on stdout.
type childEvent struct {
	Event string // "static", "lease", "timeout", "error"
	Lease *Lease `json:",omitempty"`
	Err   string `json:",omitempty"`
}

func child(what string) int {
	out := json.NewEncoder(os.Stdout)
	emit := func(e childEvent) { out.Encode(e) }
	if err := LoopbackUp(); err != nil {
		emit(childEvent{Event: "error", Err: err.Error()})
		return 1
	}
	switch what {
	case "static":
		p, err := ParseIP(os.Getenv("ICHI_IP"))
		if err == nil {
			_, err = ApplyStatic(p, os.Getenv("ICHI_RESOLV"), 2*time.Second)
		}
		if err != nil {
			emit(childEvent{Event: "error", Err: err.Error()})
			return 1
		}
		emit(childEvent{Event: "static"})
		return 0
	case "dhcp":
		// Wait for the first lease up to ICHI_BOOTWAIT (reporting a
		// timeout as boot would), then for ICHI_LEASES leases in all.
		want := 1
		fmt.Sscan(os.Getenv("ICHI_LEASES"), &want)
		bootWait, _ := time.ParseDuration(os.Getenv("ICHI_BOOTWAIT"))
		leases := make(chan Lease, 16)
		c := StartDHCP(DHCPOptions{
			Device: os.Getenv("ICHI_DEV"), ResolvConf: os.Getenv("ICHI_RESOLV"), Hostname: "ichi-test",
			ExchangeTimeout: 500 * time.Millisecond, MaxBackoff: 2 * time.Second,
			Logf:    func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
			OnLease: func(l Lease) { leases <- l },
		})
		defer c.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), bootWait)
		_, err := c.WaitBound(ctx)
		cancel()
		if err != nil {
			emit(childEvent{Event: "timeout", Err: err.Error()})
		}
		deadline := time.After(30 * time.Second)
		for n := 0; n < want; n++ {
			select {
			case l := <-leases:
				emit(childEvent{Event: "lease", Lease: &l})
			case <-deadline:
				emit(childEvent{Event: "error", Err: fmt.Sprintf("%d leases of %d after 30s", n, want)})
				return 1
			}
		}
		// The client closes each exchange's packet socket once it has
		// applied the lease; one left open would copy every packet of
		// the interface to init for the lease's lifetime.
		for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
			n, err := openPacketSockets()
			if err != nil {
				emit(childEvent{Event: "error", Err: err.Error()})
				return 1
			}
			if n == 0 {
				break
			}
			if time.Since(start) > 2*time.Second {
				emit(childEvent{Event: "error", Err: fmt.Sprintf("%d packet sockets still open 2s after the last lease", n)})
				return 1
			}
		}
		return 0
	}
	return 2
}

// openPacketSockets counts the process's open packet sockets: its socket
// descriptors whose inode /proc/self/net/packet lists.
func openPacketSockets() (int, error) {
	b, err := os.ReadFile("/proc/self/net/packet")
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			inodes["socket:["+f[len(f)-1]+"]"] = true
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && inodes[target] {
			n++
		}
	}
	return n, nil
}

var nsSeq atomic.Int32

// netnsPair makes two network namespaces joined by a veth pair, "ichi0" in
// the first (the client) and "ichi1" in the second, and removes them at the
// end of the test. The second end gets server/24 and is up.
func netnsPair(t *testing.T, server string) (client, srv string) {
	t.Helper()
	testutil.NeedRoot(t)
	testutil.Need(t, "ip")
	base := fmt.Sprintf("ichi-nc-%d-%d", os.Getpid(), nsSeq.Add(1))
	client, srv = base+"-c", base+"-s"
	for _, ns := range []string{client, srv} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	run(t, "ip", "link", "add", "ichi0", "netns", client, "type", "veth", "peer", "name", "ichi1", "netns", srv)
	run(t, "ip", "-n", srv, "addr", "add", server+"/24", "dev", "ichi1")
	run(t, "ip", "-n", srv, "link", "set", "ichi1", "up")
	run(t, "ip", "-n", srv, "link", "set", "lo", "up")
	return client, srv
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startChild runs this test binary as the netconf child inside ns; events
// come on the returned channel, closed when the child has exited and its
// status is in *exitErr.
func startChild(t *testing.T, ns, what string, env ...string) (<-chan childEvent, *error) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, self, "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + what}, env...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	events := make(chan childEvent, 16)
	exitErr := new(error)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e childEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = childEvent{Event: "error", Err: "bad line: " + sc.Text()}
			}
			events <- e
		}
		io.Copy(io.Discard, stdout)
		*exitErr = cmd.Wait()
		if *exitErr != nil {
			*exitErr = fmt.Errorf("%w; stderr:\n%s", *exitErr, stderr.String())
		} else {
			t.Logf("child stderr:\n%s", stderr.String())
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		for range events {
		}
	})
	return events, exitErr
}

func TestStaticInNetns(t *testing.T) {
	tests := []struct {
		name, ip    string
		wantRoute   string
		wantResolve string
	}{
		{"full", "10.99.0.2::10.99.0.1:255.255.255.0:box:ichi0:off:10.99.0.53:10.99.0.54",
			"default via 10.99.0.1 dev ichi0", "# written by ichi\nnameserver 10.99.0.53\nnameserver 10.99.0.54\n"},
		{"no device, no gateway, no dns", "10.99.0.2:::255.255.255.0", "", "unchanged\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, _ := netnsPair(t, "10.99.0.1")
			resolv := filepath.Join(t.TempDir(), "resolv.conf")
			os.WriteFile(resolv, []byte("unchanged\n"), 0o644)
			events, exitErr := startChild(t, client, "static", "ICHI_IP="+tt.ip, "ICHI_RESOLV="+resolv)
			for e := range events {
				if e.Event != "static" {
					t.Errorf("child: %+v", e)
				}
			}
			if *exitErr != nil {
				t.Fatal(*exitErr)
			}
			if out := run(t, "ip", "-n", client, "-4", "-o", "addr", "show", "dev", "ichi0"); !strings.Contains(out, "inet 10.99.0.2/24") {
				t.Errorf("address missing:\n%s", out)
			}
			if out := run(t, "ip", "-n", client, "link", "show", "lo"); !strings.Contains(out, ",UP") {
				t.Errorf("lo not up:\n%s", out)
			}
			route := strings.TrimSpace(run(t, "ip", "-n", client, "-4", "route", "show", "default"))
			if !strings.HasPrefix(route, tt.wantRoute) || (tt.wantRoute == "") != (route == "") {
				t.Errorf("default route = %q, want %q", route, tt.wantRoute)
			}
			if b, _ := os.ReadFile(resolv); string(b) != tt.wantResolve {
				t.Errorf("resolv.conf = %q, want %q", b, tt.wantResolve)
			}
			// The address answers across the veth pair.
			run(t, "ip", "netns", "exec", client, testutil.Need(t, "busybox"), "ping", "-c", "1", "-W", "2", "10.99.0.1")
		})
	}
}

// dhcpServer starts a DHCP server from Debian's packages inside ns on
// ichi1 (address 10.98.0.1): router 10.98.0.1, DNS 10.98.0.53.
type dhcpServer struct {
	name  string
	lease time.Duration
	start func(t *testing.T, ns, dir string) *exec.Cmd
}

var servers = []dhcpServer{
	{"busybox udhcpd", 4 * time.Second, func(t *testing.T, ns, dir string) *exec.Cmd {
		bb := testutil.Need(t, "busybox")
		conf := filepath.Join(dir, "udhcpd.conf")
		os.WriteFile(filepath.Join(dir, "leases"), nil, 0o644)
		os.WriteFile(conf, []byte(fmt.Sprintf(`start 10.98.0.100
end 10.98.0.110
interface ichi1
lease_file %s/leases
pidfile %s/udhcpd.pid
option subnet 255.255.255.0
option router 10.98.0.1
option dns 10.98.0.53
option domain test.lan
option lease 4
`, dir, dir)), 0o644)
		return exec.Command("ip", "netns", "exec", ns, bb, "udhcpd", "-f", conf)
	}},
	{"dnsmasq", 2 * time.Minute, func(t *testing.T, ns, dir string) *exec.Cmd {
		dm := testutil.Need(t, "dnsmasq")
		return exec.Command("ip", "netns", "exec", ns, dm, "--no-daemon", "--conf-file=/dev/null", "--port=0",
			"--user=root", "--interface=ichi1", "--bind-interfaces", "--pid-file="+dir+"/dnsmasq.pid",
			"--dhcp-leasefile="+dir+"/leases", "--dhcp-range=10.98.0.100,10.98.0.110,255.255.255.0,2m",
			"--dhcp-option=option:router,10.98.0.1", "--dhcp-option=option:dns-server,10.98.0.53",
			"--dhcp-option=option:domain-name,test.lan")
	}},
}

func startServer(t *testing.T, s dhcpServer, ns string) {
	t.Helper()
	dir := t.TempDir()
	cmd := s.start(t, ns, dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		t.Logf("%s output:\n%s", s.name, out.String())
	})
}

// checkLease verifies a lease against what the servers hand out.
func checkLease(t *testing.T, l *Lease, s dhcpServer) {
	t.Helper()
	pool := netip.MustParsePrefix("10.98.0.96/28")
	if l == nil || !pool.Contains(l.Addr.Addr()) || l.Addr.Bits() != 24 || l.Router != netip.MustParseAddr("10.98.0.1") ||
		len(l.DNS) != 1 || l.DNS[0] != netip.MustParseAddr("10.98.0.53") || l.Domain != "test.lan" ||
		l.Server != netip.MustParseAddr("10.98.0.1") || l.Duration != s.lease || l.Device != "ichi0" {
		t.Fatalf("lease %+v is not what %s hands out", l, s.name)
	}
}

// A lease from a real server: address (with the lease's lifetime), default
// route and resolv.conf; with udhcpd's 4 s leases, two renewals follow.
func TestDHCPInNetns(t *testing.T) {
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			client, srv := netnsPair(t, "10.98.0.1")
			startServer(t, s, srv)
			resolv := filepath.Join(t.TempDir(), "resolv.conf")
			want := 1
			if s.lease < 10*time.Second {
				want = 3
			}
			events, exitErr := startChild(t, client, "dhcp", "ICHI_DEV=", "ICHI_RESOLV="+resolv,
				"ICHI_BOOTWAIT=20s", fmt.Sprintf("ICHI_LEASES=%d", want))
			var leases []*Lease
			for e := range events {
				if e.Event != "lease" {
					t.Errorf("child: %+v", e)
					continue
				}
				leases = append(leases, e.Lease)
				if len(leases) == 1 {
					// While the child runs: the address and
					// route are in place.
					out := run(t, "ip", "-n", client, "-4", "-o", "addr", "show", "dev", "ichi0")
					if !strings.Contains(out, "inet "+e.Lease.Addr.String()) {
						t.Errorf("address %s missing:\n%s", e.Lease.Addr, out)
					}
					if s.lease < time.Hour && strings.Contains(out, "valid_lft forever") {
						t.Errorf("address without the lease's lifetime:\n%s", out)
					}
					if r := run(t, "ip", "-n", client, "-4", "route", "show", "default"); !strings.HasPrefix(r, "default via 10.98.0.1 dev ichi0") {
						t.Errorf("default route = %q", r)
					}
				}
			}
			if *exitErr != nil {
				t.Fatal(*exitErr)
			}
			if len(leases) != want {
				t.Fatalf("%d leases, want %d", len(leases), want)
			}
			for i, l := range leases {
				checkLease(t, l, s)
				if l.Renewed != (i > 0) || l.Addr != leases[0].Addr {
					t.Errorf("lease %d: %+v (first %s)", i, l, leases[0].Addr)
				}
				if i > 0 && l.Acquired.Sub(leases[i-1].Acquired) < l.Renewal/2 {
					t.Errorf("lease %d renewed after %v, before T1 %v", i, l.Acquired.Sub(leases[i-1].Acquired), l.Renewal)
				}
			}
			if b, _ := os.ReadFile(resolv); string(b) != "# written by ichi\nsearch test.lan\nnameserver 10.98.0.53\n" {
				t.Errorf("resolv.conf = %q", b)
			}
		})
	}
}

// Boot does not wait forever: with no server, WaitBound gives up at its
// deadline, and the client keeps trying in the background, so a server
// that starts later still gives the machine its address.
func TestDHCPLateServer(t *testing.T) {
	s := servers[0]
	client, srv := netnsPair(t, "10.98.0.1")
	events, exitErr := startChild(t, client, "dhcp", "ICHI_DEV=ichi0", "ICHI_RESOLV="+filepath.Join(t.TempDir(), "r"),
		"ICHI_BOOTWAIT=1s", "ICHI_LEASES=1")
	e := <-events
	if e.Event != "timeout" || !strings.Contains(e.Err, "no lease yet") {
		t.Fatalf("first event %+v, want a timeout", e)
	}
	startServer(t, s, srv)
	e = <-events
	if e.Event != "lease" {
		t.Fatalf("then %+v, want a lease", e)
	}
	checkLease(t, e.Lease, s)
	for range events {
	}
	if *exitErr != nil {
		t.Fatal(*exitErr)
	}
}
