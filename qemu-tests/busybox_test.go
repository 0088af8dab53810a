package qemutests

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ichi-init/ichi/initramfs"
	"github.com/ichi-init/ichi/vmtest"
)

// busyboxInit is a guest init that is not ichi: it proves the harness
// (image, modules and modules.dep, console, agent, forwarded port,
// poweroff) on its own.
const busyboxInit = `#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_pci virtio_net virtio_console; do
	modprobe $m || echo "guest-init: modprobe $m failed"
done
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
mkdir -p /www
echo "hello from the guest" > /www/index.html
httpd -p 80 -h /www
vmagent 2>/dev/console &
echo "guest-init: ready"
while :; do wait; sleep 1; done
`

func TestBusyboxGuest(t *testing.T) {
	t.Parallel()
	vm := vmtest.Start(t, vmtest.Options{
		NoAgent:         true,
		Append:          []string{"rdinit=/guest-init"},
		Ports:           []int{80},
		PoweroffCommand: "busybox poweroff -f",
		Timeout:         2 * time.Minute,
		Spec: initramfs.Spec{
			Files: []initramfs.File{{Dst: "/guest-init", Mode: 0o755, Data: []byte(busyboxInit)}},
		},
	})
	if _, err := vm.WaitConsole("guest-init: ready", 60*time.Second); err != nil {
		t.Fatal(err)
	}

	// The command channel: output, stderr and exit status.
	want := vm.Image().KernelVersion
	out, err := vm.Output("cat /etc/ichi-kernel; uname -r", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if out != want+"\n"+want+"\n" {
		t.Errorf("kernel version in the image and running: %q, want %q twice", out, want)
	}
	r, err := vm.Run("echo to-stderr >&2; exit 3", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 3 || r.Stderr != "to-stderr\n" {
		t.Errorf("Run: status %d stderr %q, want 3 and %q", r.Status, r.Stderr, "to-stderr\n")
	}
	// modules.dep as the image wrote it was good enough for busybox's
	// modprobe: the modules and their dependencies are loaded.
	mods, err := vm.Output("cat /proc/modules", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"virtio_net", "net_failover", "failover", "virtio_console", "virtio_pci"} {
		if !strings.Contains(mods, m+" ") {
			t.Errorf("module %s not loaded; /proc/modules:\n%s", m, mods)
		}
	}

	// The forwarded port reaches the guest's web server.
	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", vm.HostPort(80))
	var body []byte
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v\n%s", url, err, vm.ConsoleTail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if string(body) != "hello from the guest\n" {
		t.Errorf("GET %s = %q", url, body)
	}

	console, err := vm.Poweroff(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(console, "reboot: Power down") {
		t.Errorf("console after poweroff does not show the power-down:\n%s", console)
	}
}

// TestKernelPanicEndsVM: when the guest's init exits, the kernel panics;
// vmtest kills QEMU at once and a pending wait fails with the panic on the
// console instead of running out its timeout.
func TestKernelPanicEndsVM(t *testing.T) {
	t.Parallel()
	vm := vmtest.Start(t, vmtest.Options{
		NoAgent: true,
		Append:  []string{"rdinit=/guest-init"},
		Timeout: 2 * time.Minute,
		Spec: initramfs.Spec{
			Files: []initramfs.File{{Dst: "/guest-init", Mode: 0o755, Data: []byte("#!/bin/sh\necho guest-init: giving up\nexit 1\n")}},
		},
	})
	_, err := vm.WaitConsole("this line never comes", 100*time.Second)
	if err == nil {
		t.Fatal("WaitConsole matched a line the guest never writes")
	}
	for _, want := range []string{"kernel panic", "Attempted to kill init", "guest-init: giving up"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := vm.Wait(30 * time.Second); err != nil {
		t.Errorf("QEMU still runs after the panic: %v", err)
	}
}
