package qemutests

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ichi-init/ichi/initramfs"
	"github.com/ichi-init/ichi/vmtest"
)

// TestTwoVMsInParallel boots two guests at once from one test binary, as
// parallel subtests: each has its own image, console, agent socket and
// forwarded port. The subtests meet once both guests are up, so both run
// at the same time, and each then checks it talks to its own guest.
func TestTwoVMsInParallel(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		ports = map[int]string{}
		met   sync.WaitGroup
	)
	met.Add(2)
	for i := range 2 {
		name := fmt.Sprintf("guest%d", i)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var once sync.Once
			arrive := func() { once.Do(met.Done) }
			defer arrive() // a failing subtest must not hold the other
			vm := vmtest.Start(t, vmtest.Options{
				Name:            name,
				NoAgent:         true,
				Append:          []string{"rdinit=/guest-init"},
				Ports:           []int{80},
				PoweroffCommand: "busybox poweroff -f",
				Timeout:         2 * time.Minute,
				Spec: initramfs.Spec{Files: []initramfs.File{
					{Dst: "/guest-init", Mode: 0o755, Data: []byte(busyboxInit)},
					{Dst: "/etc/whoami", Data: []byte(name + "\n")},
				}},
			})
			if _, err := vm.WaitConsole("guest-init: ready", 90*time.Second); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			if other, dup := ports[vm.HostPort(80)]; dup {
				t.Errorf("%s and %s both forward host port %d", name, other, vm.HostPort(80))
			}
			ports[vm.HostPort(80)] = name
			mu.Unlock()
			arrive()
			met.Wait()
			if vm.Exited() {
				t.Fatalf("%s exited before both guests were up", name)
			}
			out, err := vm.Output("cat /etc/whoami", 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if out != name+"\n" {
				t.Errorf("%s's agent answers %q", name, out)
			}
			console, err := vm.Poweroff(30 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(console, "reboot: Power down") {
				t.Errorf("%s: no power-down on the console:\n%s", name, vm.ConsoleTail(10))
			}
		})
	}
}
