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

// TestTwoVMsInParallel runs two guests at the same time from one test:
// Start returns once QEMU runs, so both boot together; each has its own
// image, console, agent socket and forwarded port. The checks run
// concurrently and each must reach its own guest while the other is up.
func TestTwoVMsInParallel(t *testing.T) {
	t.Parallel()
	vms := make([]*vmtest.VM, 2)
	for i := range vms {
		name := fmt.Sprintf("guest%d", i)
		vms[i] = vmtest.Start(t, vmtest.Options{
			Name:            name,
			NoAgent:         true,
			Append:          []string{"rdinit=/guest-init"},
			Ports:           []int{80},
			PoweroffCommand: "busybox poweroff -f",
			Timeout:         3 * time.Minute,
			Spec: initramfs.Spec{Files: []initramfs.File{
				{Dst: "/guest-init", Mode: 0o755, Data: []byte(busyboxInit)},
				{Dst: "/etc/whoami", Data: []byte(name + "\n")},
			}},
		})
	}
	if vms[0].HostPort(80) == vms[1].HostPort(80) {
		t.Fatalf("both VMs forward host port %d", vms[0].HostPort(80))
	}
	// Both guests up at once.
	errs := make([]error, len(vms))
	each := func(f func(vm *vmtest.VM) error) {
		var wg sync.WaitGroup
		for i, vm := range vms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if errs[i] == nil {
					errs[i] = f(vm)
				}
			}()
		}
		wg.Wait()
	}
	each(func(vm *vmtest.VM) error {
		_, err := vm.WaitConsole("guest-init: ready", 120*time.Second)
		return err
	})
	each(func(vm *vmtest.VM) error {
		for _, other := range vms {
			if other.Exited() {
				return fmt.Errorf("%s exited while %s was up", other.Name(), vm.Name())
			}
		}
		out, err := vm.Output("cat /etc/whoami", 30*time.Second)
		if err != nil {
			return err
		}
		if out != vm.Name()+"\n" {
			return fmt.Errorf("%s's agent answers %q", vm.Name(), out)
		}
		return nil
	})
	each(func(vm *vmtest.VM) error {
		console, err := vm.Poweroff(60 * time.Second)
		if err == nil && !strings.Contains(console, "reboot: Power down") {
			err = fmt.Errorf("%s: no power-down on the console:\n%s", vm.Name(), vm.ConsoleTail(10))
		}
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
