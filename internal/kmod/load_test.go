package kmod

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeKernel records what the loader would have loaded; nothing reaches
// finit_module on the host.
type fakeKernel struct {
	mu     sync.Mutex
	asked  []string // every module finit was called for
	loads  []string
	flags  map[string]int
	fail   map[string]error
	onLoad func(name string)
	// enter, when set, is called first, outside the lock: a test's
	// hold on a load in progress.
	enter func(name string)
}

func (k *fakeKernel) finit(f *os.File, params string, flags int) error {
	n := Name(f.Name())
	if k.enter != nil {
		k.enter(n)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.asked = append(k.asked, n)
	if k.flags == nil {
		k.flags = map[string]int{}
	}
	k.flags[n] = flags
	if err := k.fail[n]; err != nil {
		return err
	}
	if slices.Contains(k.loads, n) {
		return unix.EEXIST
	}
	k.loads = append(k.loads, n)
	if k.onLoad != nil {
		k.onLoad(n)
	}
	return nil
}

func TestLoaderDebian(t *testing.T) {
	ix := debian(t)
	k := &fakeKernel{}
	l := &Loader{Index: ix, Finit: k.finit, SysModule: t.TempDir()}
	if err := l.LoadAll([]string{"virtio_net", "virtio_blk", "virtio_net"}); err != nil {
		t.Fatal(err)
	}
	// virtio and virtio_ring once, though both modules need them.
	want := []string{"failover", "net_failover", "virtio_ring", "virtio", "virtio_net", "virtio_blk"}
	if !reflect.DeepEqual(k.loads, want) {
		t.Errorf("loaded %v, want %v", k.loads, want)
	}
	if k.flags["virtio_net"] != 0 {
		t.Errorf("uncompressed module loaded with flags %d", k.flags["virtio_net"])
	}
}

// A module the kernel already has (listed in /sys/module, or EEXIST) is
// success; a failure names the file and does not stop the other modules.
func TestLoaderAlreadyAndFailures(t *testing.T) {
	ix := debian(t)
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "virtio_ring"), 0o755)
	os.WriteFile(filepath.Join(sys, "virtio_ring", "initstate"), []byte("live\n"), 0o644)
	k := &fakeKernel{fail: map[string]error{"failover": unix.ENOEXEC, "virtio": unix.EEXIST}}
	l := &Loader{Index: ix, Finit: k.finit, SysModule: sys}
	err := l.LoadAll([]string{"virtio_net", "virtio_blk", "no_such"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"kmod: virtio_net: finit_module " + filepath.Join(ix.Dir, "kernel/net/core/failover.ko") + ": exec format error",
		"module no_such not found"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if !reflect.DeepEqual(k.loads, []string{"virtio_blk"}) {
		t.Errorf("loaded %v, want virtio_blk only (virtio_ring live, virtio EEXIST)", k.loads)
	}
}

// Compressed modules get MODULE_INIT_COMPRESSED_FILE, and a kernel that
// refuses it gets a message saying why.
func TestLoaderCompressed(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "kernel"), 0o755)
	for _, f := range []string{"a.ko.xz", "b.ko.zst", "c.ko"} {
		os.WriteFile(filepath.Join(dir, "kernel", f), []byte("x"), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "modules.dep"), []byte("kernel/a.ko.xz: kernel/b.ko.zst kernel/c.ko\nkernel/b.ko.zst: kernel/c.ko\nkernel/c.ko:\n"), 0o644)
	ix, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKernel{}
	l := &Loader{Index: ix, Finit: k.finit, SysModule: t.TempDir()}
	if err := l.Load("a"); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(k.loads, []string{"c", "b", "a"}) || k.flags["a"] != 4 || k.flags["b"] != 4 || k.flags["c"] != 0 {
		t.Errorf("loads %v flags %v", k.loads, k.flags)
	}
	k2 := &fakeKernel{fail: map[string]error{"b": unix.EINVAL}}
	l2 := &Loader{Index: ix, Finit: k2.finit, SysModule: t.TempDir()}
	if err := l2.Load("a"); err == nil || !strings.Contains(err.Error(), "cannot decompress") {
		t.Errorf("error = %v", err)
	}
}

// Coldplug on a fake /sys: a virtio PCI function asks for virtio_pci, whose
// loading makes the virtio bus and a network device on it appear, which asks
// for virtio_net in the next round; an unknown device is ignored, and a
// device is read once.
func TestColdplug(t *testing.T) {
	ix := debian(t)
	sys := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(sys, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	// device makes DIR under devices/ with a modalias, and its link in
	// bus/BUS/devices/NAME, as the kernel does.
	device := func(bus, name, dir, alias string) {
		if bus == "cpu" { // the processor's is in its uevent file only
			write("devices/"+dir+"/uevent", "DRIVER=processor\nMODALIAS="+alias+"\n")
		} else {
			write("devices/"+dir+"/modalias", alias+"\n")
		}
		link := filepath.Join(sys, "bus", bus, "devices", name)
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink(filepath.Join(sys, "devices", dir), link); err != nil {
			t.Fatal(err)
		}
	}
	pci := "pci0000:00/0000:00:03.0"
	device("pci", "0000:00:03.0", pci, "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	device("platform", "serial8250", "platform/serial8250", "platform:serial8250")
	device("cpu", "cpu0", "system/cpu/cpu0", "cpu:type:x86,ven0000fam0006mod0086:feature:,0000")
	os.MkdirAll(filepath.Join(sys, "bus", "nodevices"), 0o755) // a bus without devices/ is skipped
	k := &fakeKernel{onLoad: func(n string) {
		if n == "virtio_pci" {
			device("virtio", "virtio0", pci+"/virtio0", "virtio:d00000001v00001AF4")
		}
	}}
	l := &Loader{Index: ix, Finit: k.finit, SysModule: t.TempDir()}
	loaded, err := l.Coldplug(filepath.Join(sys, "bus"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(loaded, "virtio_pci") || !slices.Contains(loaded, "virtio_net") {
		t.Fatalf("coldplug loaded %v, want virtio_pci and virtio_net", loaded)
	}
	if i, j := slices.Index(k.loads, "virtio_pci"), slices.Index(k.loads, "virtio_net"); i < 0 || j < i {
		t.Errorf("kernel saw %v", k.loads)
	}
	if _, err := l.Coldplug(filepath.Join(sys, "missing"), 5); err == nil {
		t.Error("a missing sysfs gave no error")
	}
}

// busModaliases reads each device once, from its modalias file or else its
// uevent file: a second call finds only the devices added since.
func TestBusModaliasesOnce(t *testing.T) {
	sys := t.TempDir()
	// add makes a device with a modalias file, or with none when alias
	// is empty.
	add := func(bus, name, alias string) {
		dir := filepath.Join(sys, bus, "devices", name)
		os.MkdirAll(dir, 0o755)
		if alias == "" {
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "modalias"), []byte(alias+"\n"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	add("pci", "a", "pci:one")
	add("pci", "b", "pci:one") // the same alias twice is returned once
	add("acpi", "c", "acpi:two")
	add("virtio", "nomodalias", "")
	os.WriteFile(filepath.Join(sys, "virtio", "devices", "nomodalias", "uevent"), []byte("MODALIAS=virtio:zero\n"), 0o444) // not read: only a processor's is
	add("cpu", "cpu0", "")
	os.WriteFile(filepath.Join(sys, "cpu", "devices", "cpu0", "uevent"), []byte("DRIVER=processor\nMODALIAS=cpu:type:x86\n"), 0o444)
	seen := map[string]bool{}
	got, err := busModaliases(sys, seen, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"acpi:two", "cpu:type:x86", "pci:one"}; !slices.Equal(got, want) {
		t.Errorf("first read %q, want %q", got, want)
	}
	// A device read once is not read again, even one that had no
	// modalias (nomodalias gains one below).
	add("virtio", "d", "virtio:three")
	if err := os.WriteFile(filepath.Join(sys, "virtio", "devices", "nomodalias", "modalias"), []byte("virtio:four\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	got, err = busModaliases(sys, seen, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"virtio:three"}; !slices.Equal(got, want) {
		t.Errorf("second read %q, want %q", got, want)
	}
}

// Loading ext4 for a mount takes its soft dependency first (crypto-crc32c:
// every crc32c module; the one the processor cannot run fails and is
// skipped), then its symbol dependencies and ext4; a file system without a
// module is no error, and each soft dependency is tried once.
func TestLoadFilesystemWithSoftdeps(t *testing.T) {
	ix := debian(t)
	if !slices.Contains(ix.Softdeps["ext4"].Pre, "crypto-crc32c") {
		t.Fatalf("Debian's modules.softdep has no \"softdep ext4 pre: crypto-crc32c\": %+v", ix.Softdeps["ext4"])
	}
	k := &fakeKernel{fail: map[string]error{"crc32c_intel": unix.ENODEV}}
	l := &Loader{Index: ix, Finit: k.finit, SysModule: t.TempDir()}
	if err := l.LoadFilesystem("ext4"); err != nil {
		t.Fatal(err)
	}
	gen, ext4 := slices.Index(k.loads, "crc32c_generic"), slices.Index(k.loads, "ext4")
	if gen < 0 || ext4 < 0 || gen > ext4 || !slices.Contains(k.loads, "jbd2") {
		t.Errorf("kernel saw %v, want crc32c_generic before ext4, and jbd2", k.loads)
	}
	if _, tried := k.flags["crc32c_intel"]; !tried {
		t.Errorf("crc32c_intel was not tried: %v", k.loads)
	}
	// With the processor known, crc32c_intel is tried only where it
	// runs (it needs feature 0094, SSE4.2).
	for _, tc := range []struct {
		cpu   string
		tried bool
	}{
		{"cpu:type:x86,ven0002fam000Fmod006B:feature:,0000,0002,0080,008D,009F", false},
		{"cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0080,0094,009F", true},
	} {
		k := &fakeKernel{}
		l := &Loader{Index: ix, Finit: k.finit, SysModule: t.TempDir(), CPU: tc.cpu}
		if err := l.LoadFilesystem("ext4"); err != nil {
			t.Fatal(err)
		}
		if _, tried := k.flags["crc32c_intel"]; tried != tc.tried || !slices.Contains(k.loads, "crc32c_generic") {
			t.Errorf("CPU %s: kernel saw %v, want crc32c_intel tried: %v, and crc32c_generic", tc.cpu, k.loads, tc.tried)
		}
	}
	if !ix.RunsOn("ext4", "cpu:type:x86,ven0000fam0006mod003F:feature:,0000") {
		t.Error("ext4, bound to no processor feature, does not run on a processor")
	}
	n := len(k.flags)
	for _, fs := range []string{"tmpfs", "proc", "nosuchfs"} {
		if err := l.LoadFilesystem(fs); err != nil {
			t.Errorf("LoadFilesystem(%s) = %v, want nil", fs, err)
		}
	}
	if err := l.LoadFilesystem("ext4"); err != nil || len(k.flags) != n {
		t.Errorf("a second ext4 gave %v and tried %d more modules", err, len(k.flags)-n)
	}
}

func TestParseSoftdep(t *testing.T) {
	got, err := ParseSoftdep(strings.NewReader("# comment\nsoftdep ext4 pre: crypto-crc32c\nsoftdep a-b pre: x y post: z\nsoftdep a_b post: w\nsoftdep cifs gcm\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Softdep{
		"ext4": {Pre: []string{"crypto-crc32c"}},
		"a_b":  {Pre: []string{"x", "y"}, Post: []string{"z", "w"}},
		"cifs": {}, // Debian's lines without pre: name nothing
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{"softdep\n", "alias a b\n"} {
		if _, err := ParseSoftdep(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// Loads side by side: two file systems' modules load while the network
// card's do (the boot does that on a machine with more than one processor),
// and a module both need reaches the kernel once.
func TestLoadSideBySide(t *testing.T) {
	ix := debian(t)
	jbd2Started := make(chan struct{})
	var once sync.Once
	k := &fakeKernel{enter: func(name string) {
		switch name {
		case "jbd2":
			once.Do(func() { close(jbd2Started) })
		case "virtio_net":
			// Only loads made side by side get past this.
			select {
			case <-jbd2Started:
			case <-time.After(10 * time.Second):
				t.Error("virtio_net's load waited for ever for jbd2's to start")
			}
		}
	}}
	l := &Loader{Index: ix, Finit: k.finit, SysModule: t.TempDir()}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i, load := range []func() error{
		func() error { return l.Load("virtio_net") },
		func() error { return l.LoadFilesystem("ext4") },
		func() error { return l.LoadFilesystem("ext4") },
		func() error { return l.Load("virtio_blk") },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = load()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("load %d: %v", i, err)
		}
	}
	// The fake answers a second load EEXIST without recording it; the
	// loader must not even ask.
	asked := map[string]int{}
	for _, n := range k.asked {
		asked[n]++
		if asked[n] == 2 {
			t.Errorf("%s asked of the kernel twice: %v", n, k.asked)
		}
	}
	for _, n := range []string{"virtio_ring", "virtio", "virtio_net", "virtio_blk", "jbd2", "ext4", "crc32c_generic"} {
		if !slices.Contains(k.loads, n) {
			t.Errorf("%s not loaded: %v", n, k.loads)
		}
	}
	// Each module still after what it needs.
	for _, pair := range [][2]string{{"virtio_ring", "virtio_net"}, {"jbd2", "ext4"}, {"virtio", "virtio_blk"}} {
		if slices.Index(k.loads, pair[0]) > slices.Index(k.loads, pair[1]) {
			t.Errorf("%s loaded after %s: %v", pair[0], pair[1], k.loads)
		}
	}
}
