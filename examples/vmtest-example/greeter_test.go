package example

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ichi-init/ichi/initramfs"
	"github.com/ichi-init/ichi/vmtest"
)

// buildGreeter compiles the service this project ships.
func buildGreeter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "greeter")
	cmd := exec.Command("go", "build", "-o", bin, "./greeter")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestGreeterInVM(t *testing.T) {
	t.Parallel()
	vm := vmtest.Start(t, vmtest.Options{
		Ports:   []int{7777},
		Timeout: 3 * time.Minute,
		Spec: initramfs.Spec{
			Programs: []initramfs.Program{{Src: buildGreeter(t), Dst: "/usr/bin/greeter"}},
			Services: []initramfs.Service{{
				Name:     "greeter",
				Run:      "#!/bin/sh\nexec greeter -addr :7777 2>&1\n",
				Multilog: "t ./main",
			}},
		},
	})
	if err := vm.WaitUp("greeter", 120*time.Second); err != nil {
		t.Fatal(err)
	}

	// QEMU accepts on the host before the guest listens; retry until
	// the greeter answers.
	var answer string
	deadline := time.Now().Add(30 * time.Second)
	for answer == "" {
		answer = greet(vm, "vm")
		if answer == "" {
			if time.Now().After(deadline) {
				t.Fatalf("no answer from the greeter through port %d\n%s", vm.HostPort(7777), vm.ConsoleTail(20))
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	if answer != "hello, vm\n" {
		t.Errorf("greeter answered %q", answer)
	}

	if err := vm.WaitCommand("grep -q 'greeted vm' "+vmtest.ServiceLogDir("greeter")+"/current", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	log, err := vm.ServiceLog("greeter")
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, l := range log {
		texts = append(texts, l.Text)
		if l.Time.IsZero() {
			t.Errorf("log line without a TAI64N label: %q", l.Text)
		}
	}
	if !strings.Contains(strings.Join(texts, "\n"), "greeter: greeted vm") {
		t.Errorf("greeter's log: %q", texts)
	}

	if _, err := vm.Poweroff(60 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// greet sends name and returns the answer, or "" when none came.
func greet(vm *vmtest.VM, name string) string {
	c, err := vm.Dial(7777)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "%s\n", name)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return ""
	}
	return line
}
