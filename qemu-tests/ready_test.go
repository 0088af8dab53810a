package qemutests

import (
	"strings"
	"testing"
	"time"

	"github.com/ichi-init/ichi/initramfs"
	"github.com/ichi-init/ichi/vmtest"
)

// TestReadyTimeoutMessage: a service that never becomes ready makes
// WaitReady fail within its timeout, and the message carries the console's
// tail and the service's log tail; a service that does become ready passes.
func TestReadyTimeoutMessage(t *testing.T) {
	t.Parallel()
	vm := vmtest.Start(t, vmtest.Options{
		Timeout: 3 * time.Minute,
		Spec: initramfs.Spec{
			Services: []initramfs.Service{
				{Name: "never", NotificationFD: 3, Multilog: "t ./main",
					Run: "#!/bin/sh\nwhile :; do echo 'never: still warming up'; sleep 1; done\n"},
				{Name: "prompt", NotificationFD: 3, Multilog: "t ./main",
					Run: "#!/bin/sh\necho 'prompt: ready now'\necho >&3\nexec sleep 100000\n"},
			},
		},
	})
	if err := vm.WaitAgent(120 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := vm.WaitReady("prompt", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := vm.WaitUp("never", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// Let the log have a line or two.
	if err := vm.WaitCommand("grep -q 'still warming up' /service/never/log/main/current", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	const timeout = 3 * time.Second
	start := time.Now()
	err := vm.WaitReady("never", timeout)
	took := time.Since(start)
	if err == nil {
		t.Fatal("WaitReady succeeded for a service that never becomes ready")
	}
	// Generous bound: the timeout plus one poll and the log read, on a
	// loaded machine.
	if took > timeout+20*time.Second {
		t.Errorf("WaitReady took %v for a %v timeout", took, timeout)
	}
	msg := err.Error()
	for _, want := range []string{
		"waiting for service never to be ready: timed out after 3s",
		"--- console, last 30 lines ---",
		"--- last state seen ---",
		"not ready; status: run",
		"--- log of service never, last 30 lines ---",
		"never: still warming up",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	t.Logf("the failure message:\n%s", msg)
}
