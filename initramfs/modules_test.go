package initramfs

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseModinfo(t *testing.T) {
	in := []byte("license=GPL\x00depends=virtio_ring,virtio,net-failover\x00alias=virtio:d00000001v*\x00softdep=pre: crc32c\x00name=virtio_net\x00vermagic=6.1\x00\x00junk")
	got := parseModinfo(in)
	want := ModuleInfo{Name: "virtio_net", Depends: []string{"virtio_ring", "virtio", "net_failover"},
		Aliases: []string{"virtio:d00000001v*"}, Softdeps: []string{"pre: crc32c"}}
	if got.Name != want.Name || !slices.Equal(got.Depends, want.Depends) || !slices.Equal(got.Aliases, want.Aliases) || !slices.Equal(got.Softdeps, want.Softdeps) {
		t.Errorf("parseModinfo = %+v, want %+v", got, want)
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/net/virtio_net.ko": "virtio_net",
		"virtio-net":                       "virtio_net",
		"a/b/nf-nat.ko.xz":                 "nf_nat",
		"ext4":                             "ext4",
	} {
		if got := ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	k := needKernel(t)
	tree, err := OpenModuleTree(k.Modules)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.Resolve([]string{"no_such_module"}); err == nil || !strings.Contains(err.Error(), "no_such_module") {
		t.Errorf("unknown module: %v", err)
	}
	// ext4's soft dependency names an alias, crypto-crc32c, which
	// modules.alias resolves to crc32c_generic (mounting ext4 fails
	// without it).
	if len(tree.Aliases) > 0 {
		s, err := tree.Resolve([]string{"ext4"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.Infos["crc32c_generic"]; !ok {
			t.Errorf("ext4's set lacks crc32c_generic: %v", s.Names())
		}
	}
	// A built-in module is fine and adds nothing.
	s, err := tree.Resolve([]string{"unix"})
	if err != nil || len(s.Infos) != 0 {
		t.Errorf("built-in unix: %v %v", s.Names(), err)
	}
}

// TestModulesDepMatchesDepmod is the differential test: the subset's
// module files are laid out in a directory, Debian's depmod (kmod) writes
// modules.dep and modules.alias for them, and ours must say the same:
// the same dependencies for every module in an order that loads, and the
// same aliases.
func TestModulesDepMatchesDepmod(t *testing.T) {
	k := needKernel(t)
	depmod, err := exec.LookPath("depmod")
	if err != nil {
		for _, p := range []string{"/usr/sbin/depmod", "/sbin/depmod"} {
			if _, err := os.Stat(p); err == nil {
				depmod = p
			}
		}
	}
	if depmod == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("depmod (kmod) not installed")
		}
		t.Skip("depmod (kmod) not installed")
	}
	tree, err := OpenModuleTree(k.Modules)
	if err != nil {
		t.Fatal(err)
	}
	set, err := tree.Resolve([]string{"virtio_net", "virtio_pci", "virtio_console", "virtio_blk", "ext4", "vfat", "nf_nat", "virtio_scsi"})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	base := filepath.Join(root, "lib/modules", k.Version)
	for _, n := range set.Names() {
		p := filepath.Join(base, set.Infos[n].Path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(filepath.Join(tree.Dir, set.Infos[n].Path), p); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(tree.Dir, "modules.builtin"))
	os.WriteFile(filepath.Join(base, "modules.builtin"), b, 0o644)
	if out, err := exec.Command(depmod, "-b", root, k.Version).CombinedOutput(); err != nil {
		t.Fatalf("depmod: %v\n%s", err, out)
	}
	theirs := readDep(t, filepath.Join(base, "modules.dep"))
	ours := parseDep(t, set.ModulesDep())
	if len(theirs) != len(ours) {
		t.Errorf("depmod lists %d modules, we list %d", len(theirs), len(ours))
	}
	for mod, deps := range theirs {
		got, ok := ours[mod]
		if !ok {
			t.Errorf("%s: missing from our modules.dep", mod)
			continue
		}
		if !slices.Equal(sorted(got), sorted(deps)) {
			t.Errorf("%s: deps %v, depmod says %v", mod, got, deps)
		}
		// Loading from the last to the first must load every module
		// after what it depends on.
		loaded := map[string]bool{}
		for i := len(got) - 1; i >= 0; i-- {
			for _, d := range ours[got[i]] {
				if !loaded[d] {
					t.Errorf("%s: %s is loaded before its dependency %s", mod, got[i], d)
				}
			}
			loaded[got[i]] = true
		}
	}
	aliasTheirs := aliasSet(t, mustRead(t, filepath.Join(base, "modules.alias")))
	aliasOurs := aliasSet(t, set.ModulesAlias())
	if !slices.Equal(aliasOurs, aliasTheirs) {
		t.Errorf("modules.alias differs:\nours  %d lines\ntheirs %d lines", len(aliasOurs), len(aliasTheirs))
	}
	softTheirs := aliasSet(t, mustRead(t, filepath.Join(base, "modules.softdep")))
	softOurs := aliasSet(t, set.ModulesSoftdep())
	if !slices.Equal(softOurs, softTheirs) {
		t.Errorf("modules.softdep: ours %q, depmod's %q", softOurs, softTheirs)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readDep(t *testing.T, p string) map[string][]string { return parseDep(t, mustRead(t, p)) }

func parseDep(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		mod, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			t.Fatalf("bad modules.dep line %q", sc.Text())
		}
		out[mod] = strings.Fields(deps)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// aliasSet returns the non-comment lines, sorted.
func aliasSet(t *testing.T, b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

func FuzzParseModinfo(f *testing.F) {
	f.Add([]byte("depends=a,b-c\x00alias=pci:v*\x00name=x-y\x00"))
	f.Add([]byte("=\x00depends=,,\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info := parseModinfo(b)
		for _, d := range append([]string{info.Name}, info.Depends...) {
			if strings.Contains(d, "-") {
				t.Fatalf("name %q keeps a '-'", d)
			}
		}
		for _, d := range info.Depends {
			if d == "" {
				t.Fatal("empty dependency")
			}
		}
	})
}
