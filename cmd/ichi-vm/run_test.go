package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ichi-init/ichi/internal/testutil"
)

// TestRunBootsServices runs `ichi-vm run` as a user would, without a
// terminal: the image boots under ichi, the user's service from a host
// directory runs a program copied with its libraries and powers the
// machine off, and QEMU's console is ichi-vm's standard output.
func TestRunBootsServices(t *testing.T) {
	t.Parallel()
	testutil.Need(t, "qemu-system-x86_64")
	if _, err := os.Stat(filepath.Join(testutil.ModuleRoot(), ".cache/kernel/version")); err != nil {
		testutil.Missing(t, "kernel in .cache/kernel (make deps)")
	}
	svc := filepath.Join(t.TempDir(), "greet")
	os.MkdirAll(svc, 0o755)
	os.WriteFile(filepath.Join(svc, "run"), []byte(`#!/bin/sh
echo "greet: $(/usr/local/bin/myls /service)" > /dev/console
poweroff
exec sleep 1000
`), 0o755)
	var stdout, stderr bytes.Buffer
	code := run([]string{"run", "-init", testutil.Ichi(t), "-service", svc,
		"-program", "/bin/ls:/usr/local/bin/myls", "-port", "0:80", "-timeout", "150s"}, nil, &stdout, &stderr)
	if code == 100 {
		t.Fatalf("usage error: %s", stderr.String())
	}
	// -port 0:80 is refused: a host port must be given.
	if !strings.Contains(stderr.String(), "bad host port") {
		t.Errorf("port 0 accepted: %s", stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	code = run([]string{"run", "-init", testutil.Ichi(t), "-service", svc,
		"-program", "/bin/ls:/usr/local/bin/myls", "-timeout", "150s"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nconsole: %s", code, stderr.String(), stdout.String())
	}
	console := stdout.String()
	for _, want := range []string{"ichi: booting as PID 1", "greet: greet", "reboot: Power down"} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
}
