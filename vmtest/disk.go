package vmtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
)

// MakeDisk creates img, a raw disk image of size bytes ("256M" as
// mkfs.ext4 takes it) holding an ext4 file system, filled from the
// directory from when it is not empty. It uses mkfs.ext4 -d, so it needs
// no loop device and no root. An existing img is replaced.
func MakeDisk(img, size, from string) error {
	args := []string{"-q", "-F", "-t", "ext4"}
	if from != "" {
		args = append(args, "-d", from)
	}
	args = append(args, img, size)
	out, err := exec.Command("mkfs.ext4", args...).CombinedOutput()
	if err != nil {
		os.Remove(img)
		return fmt.Errorf("vmtest: mkfs.ext4 %s: %v: %s", img, err, bytes.TrimSpace(out))
	}
	return nil
}

// monitorPrompt ends each answer of QEMU's human monitor.
const monitorPrompt = "(qemu) "

// Monitor runs one command of QEMU's human monitor ("sendkey
// ctrl-alt-delete", "info status") and returns its answer, with the echo
// of the command and the prompts removed.
func (vm *VM) Monitor(command string, timeout time.Duration) (string, error) {
	conn, err := net.DialTimeout("unix", vm.monitor, timeout)
	if err != nil {
		return "", fmt.Errorf("vmtest %s: monitor: %w", vm.name, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	// The greeting ends with the first prompt.
	if _, err := readPrompt(conn); err != nil {
		return "", fmt.Errorf("vmtest %s: monitor greeting: %w", vm.name, err)
	}
	if _, err := fmt.Fprintf(conn, "%s\n", command); err != nil {
		return "", fmt.Errorf("vmtest %s: monitor %q: %w", vm.name, command, err)
	}
	out, err := readPrompt(conn)
	if err != nil {
		return out, fmt.Errorf("vmtest %s: monitor %q: %w", vm.name, command, err)
	}
	// The monitor echoes the command line (with terminal escapes) first.
	if i := strings.IndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	return strings.ReplaceAll(out, "\r", ""), nil
}

// readPrompt reads until the monitor's prompt and returns what came
// before it.
func readPrompt(conn net.Conn) (string, error) {
	var b []byte
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		b = append(b, buf[:n]...)
		if bytes.HasSuffix(b, []byte(monitorPrompt)) {
			return string(b[:len(b)-len(monitorPrompt)]), nil
		}
		if err != nil {
			return string(b), err
		}
	}
}
