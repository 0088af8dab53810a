package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ichi-init/ichi/internal/testutil"
)

// TestDisk: an appliance's -disk path is relative to its directory; the
// image is made on the first boot only, and a missing image without a size
// is an error.
func TestDisk(t *testing.T) {
	testutil.Need(t, "mkfs.ext4")
	root := t.TempDir()
	dir := filepath.Join(root, "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "disk", "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "disk", "log", "README"), []byte("logs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	flags := "-disk ../cache/data.img:16M:disk\n"
	if err := os.WriteFile(filepath.Join(dir, ApplianceFile), []byte(flags), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := loadAppliance(dir)
	if err != nil {
		t.Fatal(err)
	}
	disks, err := c.makeDisks(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(root, "cache", "data.img")
	if len(disks) != 1 || disks[0] != img {
		t.Fatalf("disks %v, want [%s]", disks, img)
	}
	fi, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 16<<20 {
		t.Errorf("%s: %d bytes, want 16M", img, fi.Size())
	}
	// The image holds the appliance's disk/ directory.
	out, err := exec.Command(testutil.Need(t, "debugfs"), "-R", "cat /log/README", img).Output()
	if err != nil || string(out) != "logs\n" {
		t.Errorf("/log/README on the disk: %q, %v", out, err)
	}
	// A second boot keeps what the first one wrote.
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("written by the guest"), 8<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := c.makeDisks(io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b[8<<20:8<<20+100]), "written by the guest") {
		t.Error("the image was made again on the second boot")
	}

	c = newConfig(root)
	fs := c.flags("run")
	if err := fs.Parse([]string{"-disk", "missing.img"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.makeDisks(io.Discard); err == nil || !strings.Contains(err.Error(), "missing.img") {
		t.Errorf("a missing image without a size: %v", err)
	}
}
