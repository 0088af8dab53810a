package qemutests

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ichi-init/ichi/initramfs"
	"github.com/ichi-init/ichi/internal/machine"
	"github.com/ichi-init/ichi/vmtest"
)

// orphanMaker leaves processes behind whose parents are gone: each
// "sh -c '(sleep) &'" exits at once and its background child is reparented
// to PID 1, which must reap it when it exits. Then it stays up.
const orphanMaker = `#!/bin/sh
for i in 1 2 3 4 5 6 7 8 9 10; do
	sh -c "(sleep 0.$i; exit $i) &"
done
sh -c 'sleep 1 & sleep 0.5 & exit 0'
echo "orphans: made"
exec sleep 100000
`

// TestIchiMachine boots ichi as PID 1 with its services and checks the
// machine from the host: every service up by svstat in the guest, the
// network from QEMU's DHCP, a forwarded port served by a service, a
// service's log, no zombies after orphans died, and an orderly poweroff.
func TestIchiMachine(t *testing.T) {
	t.Parallel()
	vm := vmtest.Start(t, vmtest.Options{
		Ports:   []int{80},
		Timeout: 3 * time.Minute,
		Spec: initramfs.Spec{
			Services: []initramfs.Service{
				{Name: "hello", Run: "#!/bin/sh\necho hello from a service\nexec sleep 100000\n", Multilog: "t ./main"},
				{Name: "web", Run: "#!/bin/sh\nmkdir -p /www && echo served by ichi > /www/index.html\nexec httpd -f -p 80 -h /www\n"},
				{Name: "orphans", Run: orphanMaker, Multilog: "t ./main"},
			},
		},
	})
	if err := vm.WaitAgent(120 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"hello", "web", "orphans", vmtest.AgentService} {
		if err := vm.WaitUp(s, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	out, err := vm.Output("svstat /service/*", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	up := regexp.MustCompile(`^/service/[a-z]+: up \(pid \d+\) \d+ seconds$`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Errorf("svstat lists %d services, want 4:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if !up.MatchString(l) {
			t.Errorf("svstat line %q is not up", l)
		}
	}

	// The network card came up with QEMU's DHCP address.
	if err := vm.WaitCommand("ip -4 addr show eth0 | grep -q 'inet 10.0.2.15/'", 30*time.Second); err != nil {
		t.Fatal(err)
	}

	// The forwarded port reaches the web service.
	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", vm.HostPort(80))
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v %q\n%s", url, err, body, vm.ConsoleTail(20))
		}
		time.Sleep(300 * time.Millisecond)
	}
	if body != "served by ichi\n" {
		t.Errorf("GET %s = %q", url, body)
	}

	// The service's log has its line, stamped.
	if err := vm.WaitCommand("grep -q 'hello from a service' /service/hello/log/main/current", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	log, err := vm.ServiceLog("hello")
	if err != nil {
		t.Fatal(err)
	}
	if len(log) == 0 || log[0].Text != "hello from a service" || log[0].Time.IsZero() {
		t.Errorf("log of hello: %+v", log)
	}

	// init's threads run with a larger timer slack than the kernel gave
	// it; its services, and what they start, with the kernel's.
	slacks, err := vm.Output(`for t in /proc/1/task/*; do cat /proc/${t##*/}/timerslack_ns; done | sort -u; echo children; cat /proc/$(ps -o pid,args | sed -n 's/^ *\([0-9]*\) sleep 100000$/\1/p' | head -n 1)/timerslack_ns /proc/self/timerslack_ns`, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d\nchildren\n%d\n%d", machine.TimerSlack.Nanoseconds(), kernelTimerSlack.Nanoseconds(), kernelTimerSlack.Nanoseconds())
	if strings.TrimSpace(slacks) != want {
		t.Errorf("timer slacks (init's threads, then a service's process and a command of the agent):\n%s\nwant:\n%s", slacks, want)
	}

	// The orphans were reparented to PID 1 and reaped: once they have had
	// time to exit, no process is a zombie.
	if err := vm.WaitCommand("grep -q 'orphans: made' /service/orphans/log/main/current", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	// (busybox-static has no pgrep.)
	if err := vm.WaitCommand(`! ps -o pid,args | grep -E -q '^ *[0-9]+ sleep (0\.[0-9]+|1)$'`, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	// Each orphan subshell exits just after its sleep, so the last ones
	// may have exited a moment ago.
	checkNoZombies(t, vm)

	console, err := vm.Poweroff(60 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(console, "reboot: Power down") {
		t.Errorf("no power-down on the console:\n%s", vm.ConsoleTail(30))
	}
}

// kernelTimerSlack is the timer slack Linux gives PID 1 (init_task's), and
// every process inherits unless it sets its own.
const kernelTimerSlack = 50 * time.Microsecond

// zombieWait is how long a zombie may stay before a test counts it: one
// that a process has just left is there until its parent, PID 1 for an
// orphan, has been told and has reaped it.
const zombieWait = 5 * time.Second

// checkNoZombies fails t when some process of the guest stays a zombie
// for zombieWait.
func checkNoZombies(t *testing.T, vm *vmtest.VM) {
	t.Helper()
	for deadline := time.Now().Add(zombieWait); ; time.Sleep(200 * time.Millisecond) {
		zombies, err := vm.Output(`for s in /proc/[0-9]*/stat; do read -r l < $s 2>/dev/null && case "${l##*) }" in Z*) echo "$l";; esac; done; true`, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(zombies) == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("zombies remain after %v:\n%s", zombieWait, zombies)
			return
		}
	}
}
