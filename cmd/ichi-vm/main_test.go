package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ichi-init/ichi/initramfs"
	"github.com/ichi-init/ichi/internal/testutil"
)

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"frob"}, {"run", "extra"}, {"appliance"}, {"run", "-nosuchflag"}} {
		var out bytes.Buffer
		if code := run(args, nil, &out, &out); code != 100 {
			t.Errorf("%q: exit %d, want 100 (%s)", args, code, out.String())
		}
	}
	var out bytes.Buffer
	if code := run([]string{"build"}, nil, &out, &out); code != 100 || !strings.Contains(out.String(), "-o FILE") {
		t.Errorf("build without -o: %d %q", code, out.String())
	}
}

func TestAppliance(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "shop")
	os.MkdirAll(filepath.Join(dir, "service/web"), 0o755)
	os.WriteFile(filepath.Join(dir, "service/web/run"), []byte("#!/bin/sh\nexec httpd -f\n"), 0o755)
	os.MkdirAll(filepath.Join(dir, "rootfs/etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "rootfs/etc/hostname"), []byte("shop\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "extra.conf"), []byte("a=b\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ApplianceFile), []byte(`# the shop
-program /bin/ls:/usr/bin/myls
-file extra.conf:/etc/extra.conf
-port 8080:80
-append ichi.debug  quiet2
`), 0o644)
	c, err := loadAppliance(dir)
	if err != nil {
		t.Fatal(err)
	}
	top := newConfig("")
	fs := top.flags("appliance")
	if err := fs.Parse([]string{"-port", "9000:90", "-module", "vfat", "-init", "/bin/true"}); err != nil {
		t.Fatal(err)
	}
	c = c.merge(top)
	spec, fwd, err := c.spec()
	if err != nil {
		t.Fatal(err)
	}
	if len(fwd) != 2 || fwd[0].HostPort != 8080 || fwd[0].GuestPort != 80 || fwd[1].HostPort != 9000 {
		t.Errorf("forwards %+v", fwd)
	}
	if c.appendWords != "ichi.debug  quiet2" {
		t.Errorf("append %q", c.appendWords)
	}
	spec.InitTools = []string{}
	im, err := initramfs.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/service/web/run", "/etc/hostname", "/etc/extra.conf", "/usr/bin/myls"} {
		if !im.Has(p) {
			t.Errorf("%s missing from the appliance's image", p)
		}
	}
	if im.Has("/service/vmagent/run") {
		t.Error("the agent is in the image without -agent")
	}
	if !strings.Contains(strings.Join(im.Modules, " "), "vfat") {
		t.Errorf("modules %v lack vfat", im.Modules)
	}

	os.WriteFile(filepath.Join(dir, ApplianceFile), []byte("-port\n-bogus x\n"), 0o644)
	if _, err := loadAppliance(dir); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("bad description: %v", err)
	}
	if _, err := loadAppliance(filepath.Join(root, "none")); err == nil {
		t.Error("a missing appliance loaded")
	}
}

func TestBuildWritesImage(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		testutil.Missing(t, "busybox-static")
	}
	if _, err := os.Stat(filepath.Join(testutil.ModuleRoot(), ".cache/kernel/version")); err != nil {
		testutil.Missing(t, "kernel in .cache/kernel (make deps)")
	}
	out := filepath.Join(t.TempDir(), "img")
	var stderr bytes.Buffer
	code := run([]string{"build", "-o", out, "-init", testutil.Ichi(t), "-program", "/bin/ls"}, nil, &stderr, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() < 1<<20 {
		t.Fatalf("image: %v %v", fi, err)
	}
	version, _ := os.ReadFile(filepath.Join(testutil.ModuleRoot(), ".cache/kernel/version"))
	if want := "kernel " + strings.TrimSpace(string(version)) + ","; !strings.Contains(stderr.String(), want) {
		t.Errorf("build output does not say %q: %s", want, stderr.String())
	}
}
