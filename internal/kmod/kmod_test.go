package kmod

import (
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ichi-init/ichi/internal/testutil"
)

// debian returns the index of the Debian kernel that make deps unpacks.
func debian(t testing.TB) *Index {
	t.Helper()
	dir := filepath.Join(testutil.ModuleRoot(), ".cache", "kernel", "modules")
	if _, err := os.Stat(filepath.Join(dir, "modules.dep")); err != nil {
		testutil.Missing(t, "Debian kernel modules with modules.dep in %s (make deps)", dir)
	}
	ix, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestDebianIndex(t *testing.T) {
	ix := debian(t)
	if len(ix.Deps) < 1000 || len(ix.Aliases) < 10000 || len(ix.Builtin) < 50 {
		t.Fatalf("index too small: %d modules, %d aliases, %d builtin", len(ix.Deps), len(ix.Aliases), len(ix.Builtin))
	}
	// virtio_net's line: kernel/drivers/net/virtio_net.ko: net_failover
	// failover virtio virtio_ring.
	m := ix.Deps["virtio_net"]
	want := []string{"kernel/drivers/net/net_failover.ko", "kernel/net/core/failover.ko",
		"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko"}
	if m.Path != "kernel/drivers/net/virtio_net.ko" || !reflect.DeepEqual(m.Deps, want) {
		t.Errorf("virtio_net = %+v", m)
	}
	// A name with '-' in its file is known by its '_' name.
	if _, ok := ix.Deps["amd_uncore"]; !ok && ix.Builtin["amd_uncore"] == false {
		t.Error("amd-uncore not found as amd_uncore")
	}
}

func TestResolveOrder(t *testing.T) {
	ix := debian(t)
	tests := []struct {
		name string
		last string
		want []string // each must come before last, and in an order respecting deps
	}{
		{"virtio_net", "virtio_net", []string{"failover", "net_failover", "virtio_ring", "virtio"}},
		{"virtio-net", "virtio_net", []string{"failover", "net_failover", "virtio_ring", "virtio"}},
		{"virtio_pci", "virtio_pci", []string{"virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_ring", "virtio"}},
		{"ext4", "ext4", []string{"crc16", "mbcache", "jbd2"}},
		// By alias, as modprobe resolves it.
		{"fs-ext4", "ext4", []string{"crc16", "mbcache", "jbd2"}},
		{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", "virtio_pci", []string{"virtio_ring", "virtio"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := ix.Resolve(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range files {
				names = append(names, Name(f))
			}
			if names[len(names)-1] != tt.last {
				t.Fatalf("order %v does not end with %s", names, tt.last)
			}
			for _, w := range tt.want {
				if !slices.Contains(names, w) {
					t.Errorf("order %v lacks %s", names, w)
				}
			}
			// Every module comes after each of its dependencies.
			pos := map[string]int{}
			for i, n := range names {
				pos[n] = i
			}
			for _, f := range files {
				for _, d := range ix.Deps[Name(f)].Deps {
					if pos[Name(d)] >= pos[Name(f)] {
						t.Errorf("%s loads before its dependency %s: %v", Name(f), Name(d), names)
					}
				}
			}
		})
	}
	if files, err := ix.Resolve(firstKey(ix.Builtin)); err != nil || len(files) != 0 {
		t.Errorf("a built-in module resolved to %v, %v", files, err)
	}
	if _, err := ix.Resolve("no_such_module"); err == nil || !strings.Contains(err.Error(), "module no_such_module not found") {
		t.Errorf("Resolve(no_such_module) error = %v", err)
	}
}

func firstKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

func TestLookupDebian(t *testing.T) {
	ix := debian(t)
	tests := []struct {
		modalias string
		want     []string
	}{
		{"virtio:d00000001v00001AF4", []string{"virtio_net"}},
		{"virtio:d00000002v00001AF4", []string{"virtio_blk"}},
		{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", []string{"virtio_pci"}},
		// e1000 (QEMU's default NIC, 8086:100E).
		{"pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00", []string{"e1000"}},
		{"platform:no-such-device", nil},
	}
	for _, tt := range tests {
		if got := ix.Lookup(tt.modalias); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Lookup(%s) = %v, want %v", tt.modalias, got, tt.want)
		}
	}
}

// The lookup through the bus index gives what a scan of every alias gives.
func TestLookupIndexEqualsScan(t *testing.T) {
	ix := debian(t)
	for _, a := range []string{"virtio:d00000001v00001AF4", "acpi:PNP0A03:", "cpu:type:x86,ven0000fam0006mod0086:feature:,0000,0001",
		"input:b0011v0001p0001eAB41-e0,1,4,11,14,k71,72,73,ramlsfw", "crypto-sha256", "fs-ext4", "usb:v046Dp0825d0010dcEFdsc02dp01ic0Eisc01ip00in00"} {
		var scan []string
		for _, al := range ix.Aliases {
			if Match(al.Pattern, a) && !slices.Contains(scan, al.Module) {
				scan = append(scan, al.Module)
			}
		}
		if got := ix.Lookup(a); !reflect.DeepEqual(got, scan) {
			t.Errorf("Lookup(%s) = %v, scan = %v", a, got, scan)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"virtio:d00000001v*", "virtio:d00000001v00001AF4", true},
		{"virtio:d00000001v*", "virtio:d00000002v00001AF4", false},
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[abc]x", "bx", true},
		{"[!abc]x", "bx", false},
		{"[^abc]x", "dx", true},
		{"[a-c]", "b", true},
		{"[a-c]", "d", false},
		{"[]]", "]", true},
		{"[a-]", "-", true},
		{"[", "[", true},
		{"a[b", "a[b", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{"*/x", "a/b/x", true}, // '*' crosses '/' in fnmatch without FNM_PATHNAME
		{"*", "", true},
		{"**a**", "bab", true},
		{"*a*b", "xaxxb", true},
		{"*a*b", "xaxxbc", false},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// Differential against path.Match where the two define the same thing:
// ASCII (fnmatch in the C locale works on bytes, path.Match on runes), no
// '/', no "!" negation, and a pattern path.Match accepts.
func FuzzMatch(f *testing.F) {
	f.Add("pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	f.Add("[a-c]?*x", "bzzx")
	f.Add(`\[[^x]`, "[y")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := Match(pattern, s)
		if strings.ContainsAny(pattern+s, "/!") || strings.ContainsFunc(pattern+s, func(r rune) bool { return r >= 0x80 }) || strings.Contains(pattern, "[]") || strings.Contains(pattern, "[^]") {
			return
		}
		want, err := path.Match(pattern, s)
		if err != nil {
			return
		}
		if got != want {
			t.Fatalf("Match(%q, %q) = %v, path.Match says %v", pattern, s, got, want)
		}
	})
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
		parse          func(string) error
	}{
		{"dep no colon", "kernel/a.ko kernel/b.ko\n", "line 1: want \"module.ko: dependencies\"", parseDep},
		{"dep not a module", "# c\nkernel/a.ko: x.txt\n", "line 2: dependency \"x.txt\" is not a module file", parseDep},
		{"dep path not ko", "kernel/a.o:\n", "line 1: \"kernel/a.o\" is not a module file", parseDep},
		{"dep twice", "a/x.ko:\nb/x.ko:\n", "line 2: module x listed twice", parseDep},
		{"dep empty name", ": a.ko\n", "line 1: want", parseDep},
		{"alias fields", "alias onlyone\n", "line 1: want \"alias PATTERN MODULE\"", parseAlias},
		{"alias keyword", "aliass a b\n", "line 1: want", parseAlias},
		{"alias byte", "alias a\x01b m\n", "has byte 0x1", parseAlias},
		{"builtin", "kernel/a.ko extra\n", "line 1: want a module file", parseBuiltin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func parseDep(s string) error     { _, err := ParseDep(strings.NewReader(s)); return err }
func parseAlias(s string) error   { _, err := ParseAlias(strings.NewReader(s)); return err }
func parseBuiltin(s string) error { _, err := ParseBuiltin(strings.NewReader(s)); return err }

func TestResolveErrors(t *testing.T) {
	deps, err := ParseDep(strings.NewReader("a.ko: b.ko\nb.ko: a.ko\nc.ko: gone.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	ix := &Index{Dir: "/m", Deps: deps}
	if _, err := ix.Resolve("a"); err == nil || !strings.Contains(err.Error(), "dependency cycle: a -> b -> a") {
		t.Errorf("cycle: %v", err)
	}
	if _, err := ix.Resolve("c"); err == nil || !strings.Contains(err.Error(), "c needs gone, which is not in modules.dep") {
		t.Errorf("missing dependency: %v", err)
	}
}

func FuzzParseDep(f *testing.F) {
	f.Add("kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko\nkernel/net/core/failover.ko:\n")
	f.Add("a.ko.xz: b.ko.zst\nb.ko.zst:\n")
	f.Fuzz(func(t *testing.T, s string) {
		deps, err := ParseDep(strings.NewReader(s))
		if err != nil {
			return
		}
		ix := &Index{Deps: deps, Builtin: map[string]bool{}}
		for n := range deps {
			files, err := ix.Resolve(n)
			if err != nil {
				continue
			}
			if len(files) == 0 || Name(files[len(files)-1]) != n {
				t.Fatalf("Resolve(%s) = %v", n, files)
			}
		}
	})
}

func FuzzParseAlias(f *testing.F) {
	f.Add("alias virtio:d00000001v* virtio_net\nalias fs-ext4 ext4\n")
	f.Fuzz(func(t *testing.T, s string) {
		aliases, err := ParseAlias(strings.NewReader(s))
		if err != nil {
			return
		}
		ix := &Index{Aliases: aliases}
		for _, a := range aliases {
			if strings.Contains(a.Module, "-") || a.Pattern == "" {
				t.Fatalf("bad alias %+v", a)
			}
			ix.Lookup(a.Pattern) // must not panic
		}
	})
}
