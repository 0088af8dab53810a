package initramfs

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/ichi-init/ichi/internal/testutil"
)

// kernelDir is the kernel `make deps` unpacks.
func kernelDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", ".cache", "kernel")
}

func needKernel(t *testing.T) Kernel {
	t.Helper()
	k, err := LoadKernel(kernelDir())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return k
}

func needBusybox(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return "/bin/busybox"
}

// extract unpacks a compressed image with the reference lz4 tool and
// busybox's cpio into a new directory: the archive must be readable by
// other implementations (the QEMU tests show that the kernel reads it).
func extract(t *testing.T, img []byte) string {
	t.Helper()
	unlz4 := exec.Command(testutil.Need(t, "lz4"), "-d", "-c")
	unlz4.Stdin = bytes.NewReader(img)
	var stderr bytes.Buffer
	unlz4.Stderr = &stderr
	raw, err := unlz4.Output()
	if err != nil {
		t.Fatalf("lz4 -d: %v\n%s", err, stderr.Bytes())
	}
	if len(img) < 4 || binary.LittleEndian.Uint32(img) != 0x184c2102 {
		t.Errorf("image starts with % x, want the LZ4 legacy magic 02 21 4c 18", img[:min(4, len(img))])
	}
	dir := t.TempDir()
	cmd := exec.Command(needBusybox(t), "cpio", "-i", "-d", "-m")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(raw)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio -i: %v\n%s", err, out)
	}
	return dir
}

func TestCPIOReadByBusybox(t *testing.T) {
	im := newImage()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(im.AddFile("/etc/x", 0o640, []byte("hello")))
	must(im.AddFile("/bin/tool", 0o755, []byte("#!/bin/sh\n")))
	must(im.AddSymlink("/bin/link", "tool"))
	must(im.AddFile("/a/b/c/d/odd-size", 0o600, []byte("123")))
	must(im.AddDir("/empty", 0o700))
	must(im.AddFile("/zero", 0o644, nil))
	b, err := im.Bytes()
	must(err)
	dir := extract(t, b)
	tests := []struct {
		path, data string
		mode       os.FileMode
	}{
		{"etc/x", "hello", 0o640},
		{"bin/tool", "#!/bin/sh\n", 0o755},
		{"a/b/c/d/odd-size", "123", 0o600},
		{"zero", "", 0o644},
	}
	for _, tt := range tests {
		fi, err := os.Stat(filepath.Join(dir, tt.path))
		if err != nil {
			t.Error(err)
			continue
		}
		got, _ := os.ReadFile(filepath.Join(dir, tt.path))
		if string(got) != tt.data || fi.Mode().Perm() != tt.mode {
			t.Errorf("%s: %q %v, want %q %v", tt.path, got, fi.Mode().Perm(), tt.data, tt.mode)
		}
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/link")); err != nil || l != "tool" {
		t.Errorf("bin/link -> %q, %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "empty")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("empty: %v %v", fi, err)
	}
}

func TestCPIOHeader(t *testing.T) {
	var b bytes.Buffer
	w := newCPIOWriter(&b)
	w.File("f", 0o644, []byte("ab"))
	w.Close()
	want := "070701" + "00000001" + "000081A4" + "00000000" + "00000000" + "00000001" + "00000000" +
		"00000002" + "00000000" + "00000000" + "00000000" + "00000000" + "00000002" + "00000000" + "f\x00" +
		"ab\x00\x00" +
		"070701" + "00000000" + "00000000" + "00000000" + "00000000" + "00000001" + "00000000" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "0000000B" + "00000000" + "TRAILER!!!\x00" + "\x00\x00\x00"
	if b.String() != want {
		t.Errorf("archive\n%q\nwant\n%q", b.String(), want)
	}
	if b.Len()%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", b.Len())
	}
}

func TestBadPaths(t *testing.T) {
	im := newImage()
	for _, p := range []string{"/", "", "/a/../../etc", "../x"} {
		if err := im.AddFile(p, 0o644, nil); err == nil {
			t.Errorf("AddFile(%q) accepted", p)
		}
	}
	im.AddFile("/f", 0o644, nil)
	if err := im.AddFile("/f/g", 0o644, nil); err == nil {
		t.Error("a file under a regular file was accepted")
	}
}

func TestDeterministic(t *testing.T) {
	k := needKernel(t)
	spec := Spec{
		Busybox:   needBusybox(t),
		Kernel:    k,
		Modules:   []string{"virtio_net", "ext4"},
		Programs:  []Program{{Src: "/bin/ls"}},
		Services:  []Service{{Name: "a", Run: "#!/bin/sh\nexec sleep 100\n", LogRun: "#!/bin/sh\nexec multilog t ./main\n"}},
		Files:     []File{{Dst: "/etc/motd", Data: []byte("hi\n")}},
		InitTools: []string{"svstat", "poweroff"},
		Init:      "/bin/true",
	}
	var imgs [][]byte
	for range 2 {
		im, err := Build(spec)
		if err != nil {
			t.Fatal(err)
		}
		b, err := im.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, b)
	}
	if !bytes.Equal(imgs[0], imgs[1]) {
		t.Fatal("two builds of the same spec differ")
	}
	dir := extract(t, imgs[0])
	for _, p := range []string{"init", "bin/busybox", "bin/ls", "etc/ichi-kernel", "service/a/run", "service/a/log/run",
		"lib/modules/" + k.Version + "/modules.dep", "lib/modules/" + k.Version + "/modules.alias"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err != nil {
			t.Error(err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/ichi-kernel")); string(b) != k.Version+"\n" {
		t.Errorf("/etc/ichi-kernel = %q", b)
	}
	// ichi's tools replace busybox's applets of the same name where they
	// are, and the others land in /bin.
	for p, want := range map[string]string{"sbin/poweroff": "/init", "bin/svstat": "/init", "bin/sh": "/bin/busybox"} {
		if l, err := os.Readlink(filepath.Join(dir, p)); err != nil || l != want {
			t.Errorf("%s -> %q (%v), want %q", p, l, err, want)
		}
	}
}

// TestNeededMatchesLdd compares the libraries found from the ELF headers
// with those the system's ldd (the dynamic loader itself) lists.
func TestNeededMatchesLdd(t *testing.T) {
	ldd, err := exec.LookPath("ldd")
	if err != nil {
		t.Skip("no ldd")
	}
	for _, prog := range []string{"/bin/ls", "/usr/bin/tcpserver", "/usr/bin/qemu-system-x86_64", "/usr/sbin/dnsmasq"} {
		if _, err := os.Stat(prog); err != nil {
			continue
		}
		t.Run(filepath.Base(prog), func(t *testing.T) {
			objs, err := Needed(prog)
			if err != nil {
				t.Fatal(err)
			}
			var ours []string
			for _, o := range objs {
				ours = append(ours, filepath.Base(o.Path))
			}
			slices.Sort(ours)
			ours = slices.Compact(ours)
			out, err := exec.Command(ldd, prog).Output()
			if err != nil {
				t.Fatal(err)
			}
			var theirs []string
			for _, l := range strings.Split(string(out), "\n") {
				f := strings.Fields(l)
				if len(f) == 0 || strings.HasPrefix(f[0], "linux-vdso") {
					continue
				}
				theirs = append(theirs, filepath.Base(f[0]))
			}
			slices.Sort(theirs)
			theirs = slices.Compact(theirs)
			if !slices.Equal(ours, theirs) {
				t.Errorf("libraries of %s:\nours  %v\nldd's %v", prog, ours, theirs)
			}
		})
	}
}

func TestNeededStatic(t *testing.T) {
	objs, err := Needed(needBusybox(t))
	if err != nil || len(objs) != 0 {
		t.Errorf("static busybox needs %v, %v", objs, err)
	}
	if _, err := Needed("/etc/passwd"); err == nil {
		t.Error("a text file was read as a program")
	}
}

func TestProgramLibrariesInImage(t *testing.T) {
	im, err := Build(Spec{Programs: []Program{{Src: "/bin/ls", Dst: "/usr/local/bin/myls"}}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open("/bin/ls")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	needed, _ := f.ImportedLibraries()
	for _, n := range needed {
		found := false
		for _, l := range im.Libraries {
			if filepath.Base(l) == n && im.Has(l) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s not in the image (libraries %v)", n, im.Libraries)
		}
	}
	if !im.Has("/usr/local/bin/myls") || !im.Has("/lib64/ld-linux-x86-64.so.2") {
		t.Errorf("program or interpreter missing:\n%s", im)
	}
}

func TestTreeOverRoot(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "etc/app"), 0o755)
	os.WriteFile(filepath.Join(src, "etc/app/conf"), []byte("x=1\n"), 0o600)
	os.WriteFile(filepath.Join(src, "etc/passwd"), []byte("root:x:0:0::/:/bin/sh\n"), 0o644)
	os.Symlink("app/conf", filepath.Join(src, "etc/conf-link"))
	svc := t.TempDir()
	os.WriteFile(filepath.Join(svc, "run"), []byte("#!/bin/sh\n"), 0o755)
	os.MkdirAll(filepath.Join(svc, "supervise"), 0o700)
	os.WriteFile(filepath.Join(svc, "supervise/status"), make([]byte, 20), 0o644)
	im, err := Build(Spec{
		Files: []File{{Src: src, Dst: "/"}},
		Services: []Service{{Name: "web", Dir: svc, LogRun: "#!/bin/sh\nexec multilog t ./main\n", Down: true},
			{Name: "db", Run: "#!/bin/sh\n", Multilog: "t ./main", NotificationFD: 3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := im.ReadFile("/etc/app/conf"); err != nil || string(b) != "x=1\n" {
		t.Errorf("/etc/app/conf: %q %v", b, err)
	}
	if b, _ := im.ReadFile("/etc/passwd"); string(b) != "root:x:0:0::/:/bin/sh\n" {
		t.Errorf("rootfs did not replace /etc/passwd: %q", b)
	}
	if l, err := im.Readlink("/etc/conf-link"); err != nil || l != "app/conf" {
		t.Errorf("symlink: %q %v", l, err)
	}
	if b, _ := im.ReadFile("/service/db/log/multilog"); string(b) != "t ./main\n" {
		t.Errorf("log/multilog = %q", b)
	}
	if b, _ := im.ReadFile("/service/db/notification-fd"); string(b) != "3\n" {
		t.Errorf("notification-fd = %q", b)
	}
	for _, p := range []string{"/service/web/run", "/service/web/log/run", "/service/web/down"} {
		if !im.Has(p) {
			t.Errorf("%s missing", p)
		}
	}
	if im.Has("/service/web/supervise/status") {
		t.Error("a supervise/ directory was copied into the image")
	}
}
