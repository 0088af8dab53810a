package machine

import (
	"fmt"
	"os"
	"strings"

	"github.com/ichi-init/ichi/internal/boot/cmdline"
	"golang.org/x/sys/unix"
)

// chooseHostname picks the host name: ichi.hostname, then ip='s hostname
// field, then the first line of /etc/hostname (text as read from file).
func chooseHostname(fromParam, fromIP, file string) (name, source string, err error) {
	switch {
	case fromParam != "":
		return fromParam, "ichi.hostname", nil
	case fromIP != "":
		return fromIP, "ip=", cmdline.ValidHostname(fromIP)
	}
	line, _, _ := strings.Cut(file, "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		return "", "", nil
	}
	return line, HostnameFile, cmdline.ValidHostname(line)
}

func setHostname(fromParam, fromIP, path string, logf func(string, ...any)) error {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	name, source, err := chooseHostname(fromParam, fromIP, string(b))
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	if name == "" {
		return nil
	}
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("sethostname %s: %w", name, err)
	}
	logf("ichi: hostname %s (from %s)", name, source)
	return nil
}
