package initramfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LoadKernel reads a kernel directory laid out as `make deps` leaves
// .cache/kernel: vmlinuz (the image), modules (/lib/modules/VERSION of the
// kernel's package) and version (one line, the release name).
func LoadKernel(dir string) (Kernel, error) {
	b, err := os.ReadFile(filepath.Join(dir, "version"))
	if err != nil {
		return Kernel{}, fmt.Errorf("initramfs: kernel %s: %w (run make deps)", dir, err)
	}
	k := Kernel{
		Version: strings.TrimSpace(string(b)),
		Modules: filepath.Join(dir, "modules"),
		Image:   filepath.Join(dir, "vmlinuz"),
	}
	if k.Version == "" {
		return Kernel{}, fmt.Errorf("initramfs: kernel %s: empty version file", dir)
	}
	for _, p := range []string{k.Image, k.Modules} {
		if _, err := os.Stat(p); err != nil {
			return Kernel{}, fmt.Errorf("initramfs: kernel %s: %w", dir, err)
		}
	}
	return k, nil
}
