package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/ichi-init/ichi/initramfs"
)

// Environment variables that point vmtest at its inputs.
const (
	// EnvKernel names a kernel directory laid out as ichi's `make deps`
	// leaves .cache/kernel: vmlinuz, modules/ and version.
	EnvKernel = "ICHI_KERNEL"
	// EnvIchi names a static ichi binary to put in the images, instead of
	// one built from the module with `go build`.
	EnvIchi = "ICHI_BIN"
	// EnvConsole, set to 1, copies every guest's console to standard
	// error as it arrives, each line prefixed with the VM's name.
	EnvConsole = "ICHI_VMTEST_CONSOLE"
)

// DefaultBusybox is where Debian's busybox-static installs busybox.
const DefaultBusybox = "/bin/busybox"

// FindKernel returns the kernel to boot: $ICHI_KERNEL, or the .cache/kernel
// directory of the ichi source tree vmtest was compiled from, when it
// exists (it does in ichi's own checkout after make deps).
func FindKernel() (initramfs.Kernel, error) {
	if d := os.Getenv(EnvKernel); d != "" {
		return initramfs.LoadKernel(d)
	}
	_, file, _, ok := runtime.Caller(0)
	if ok {
		d := filepath.Join(filepath.Dir(file), "..", ".cache", "kernel")
		if _, err := os.Stat(filepath.Join(d, "version")); err == nil {
			return initramfs.LoadKernel(d)
		}
	}
	return initramfs.Kernel{}, fmt.Errorf("vmtest: no kernel: set %s to a directory with vmlinuz, modules and version (ichi's make deps makes one in .cache/kernel)", EnvKernel)
}

var (
	ichiOnce sync.Once
	ichiPath string
	ichiErr  error
)

// FindIchi returns a static ichi binary: $ICHI_BIN, or one built once per
// process with `go build github.com/ichi-init/ichi/cmd/init` (CGO_ENABLED=0)
// in the current directory's module, which for an outside project is the
// ichi version its go.mod requires.
func FindIchi() (string, error) {
	if p := os.Getenv(EnvIchi); p != "" {
		return p, nil
	}
	ichiOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vmtest-ichi-")
		if err != nil {
			ichiErr = err
			return
		}
		p := filepath.Join(dir, "init")
		cmd := exec.Command("go", "build", "-trimpath", "-o", p, "github.com/ichi-init/ichi/cmd/init")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			ichiErr = fmt.Errorf("vmtest: go build ichi: %v\n%s", err, out)
			return
		}
		ichiPath = p
	})
	return ichiPath, ichiErr
}
