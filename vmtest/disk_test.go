package vmtest

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/testutil"
)

func TestMachineDisksAndMonitor(t *testing.T) {
	m := Machine{Kernel: "/k", Initrd: "/i", Disks: []string{"/a.img", "/b.img"}, MonitorSocket: "/m.sock"}
	_, args := m.Command()
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"-drive file=/a.img,if=virtio,format=raw -drive file=/b.img,if=virtio,format=raw",
		"-monitor unix:/m.sock,server=on,wait=off",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("command lacks %q: %s", want, joined)
		}
	}
	_, args = Machine{Kernel: "/k", Initrd: "/i"}.Command()
	for _, a := range args {
		if a == "-drive" || a == "-monitor" {
			t.Errorf("command without disks or monitor has %s: %v", a, args)
		}
	}
}

// TestMakeDisk makes an ext4 image from a directory and reads the file
// back with debugfs, without mounting it.
func TestMakeDisk(t *testing.T) {
	testutil.Need(t, "mkfs.ext4")
	debugfs := testutil.Need(t, "debugfs")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := exec.Command("mkdir", "-p", filepath.Join(src, "log")).Run(); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("sh", "-c", "echo kept > "+filepath.Join(src, "log", "note")).Run(); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "disk.img")
	if err := MakeDisk(img, "8M", src); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(debugfs, "-R", "cat /log/note", img).Output()
	if err != nil {
		t.Fatalf("debugfs: %v", err)
	}
	if string(out) != "kept\n" {
		t.Errorf("/log/note on the disk = %q", out)
	}
	if err := MakeDisk(filepath.Join(dir, "bad.img"), "not-a-size", ""); err == nil || !strings.Contains(err.Error(), "bad.img") {
		t.Errorf("MakeDisk with a bad size: %v", err)
	}
}

// TestMonitorProtocol talks to a fake monitor that answers as QEMU's does:
// greeting, prompt, echo of the command, answer, prompt.
func TestMonitorProtocol(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "m.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err.Error()
			return
		}
		defer c.Close()
		c.Write([]byte("QEMU 7.2.0 monitor - type 'help' for more information\r\n(qemu) "))
		buf := make([]byte, 100)
		n, _ := c.Read(buf)
		c.Write([]byte("info status\r\n\x1b[KVM status: running\r\n(qemu) "))
		done <- string(buf[:n])
	}()
	vm := &VM{name: "fake", monitor: sock}
	out, err := vm.Monitor("info status", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-done; got != "info status\n" {
		t.Errorf("monitor got %q", got)
	}
	if out != "\x1b[KVM status: running\n" {
		t.Errorf("answer %q", out)
	}
}
