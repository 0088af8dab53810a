package kmod

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// indexOf returns an index whose aliases are patterns, each for a module
// named after its position.
func indexOf(patterns ...string) *Index {
	ix := &Index{}
	for i, p := range patterns {
		ix.Aliases = append(ix.Aliases, Alias{Pattern: p, Module: string(rune('a' + i))})
	}
	return ix
}

func TestWantsBus(t *testing.T) {
	for _, c := range []struct {
		name     string
		patterns []string
		want     []string // buses wanted, of those checked
	}{
		{"the mail image's modules", []string{
			"pci:v00001AF4d*sv*sd*bc*sc*i*", "virtio:d00000001v*", "virtio:d00000002v*",
			"cpu:type:x86,ven*fam*mod*:feature:*0094*", "crypto-crc32c", "crc32c", "fs-ext4", "ext2",
		}, []string{"pci", "virtio", "cpu", "w1"}},
		{"ACPI aliases are wanted on every bus", []string{"acpi*:PNP0501:*"},
			[]string{"pci", "virtio", "cpu", "platform", "acpi", "pnp", "i2c", "mdio_bus", "w1", "serial"}},
		{"so are device tree aliases", []string{"of:N*T*Cns16550a"},
			[]string{"pci", "virtio", "cpu", "platform", "acpi", "pnp", "i2c", "mdio_bus", "w1", "serial"}},
		{"a bus whose modaliases are not named after it", []string{"mdio:0000000000010100000000000000010?"},
			[]string{"mdio_bus"}},
		{"an old kernel's processor aliases", []string{"x86cpu:vendor:*:family:*:model:*:feature:*0094*"},
			[]string{"cpu"}},
		{"a wildcard in the bus part", []string{"p?i:v*"}, []string{"pci"}},
		{"DMI aliases are on no bus", []string{"dmi*:svnQEMU:*"}, nil},
		{"no aliases", nil, nil},
	} {
		ix := indexOf(c.patterns...)
		var got []string
		for _, bus := range []string{"pci", "virtio", "cpu", "platform", "acpi", "pnp", "i2c", "mdio_bus", "w1", "serial"} {
			if ix.WantsBus(bus) {
				got = append(got, bus)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: wanted buses %q, want %q", c.name, got, c.want)
		}
	}
}

// Coldplug reads only the buses some alias is for: with the aliases of a
// virtio image, an ACPI device is not even opened.
func TestBusModaliasesOnlyWantedBuses(t *testing.T) {
	sys := t.TempDir()
	add := func(bus, name, alias string) {
		dir := filepath.Join(sys, bus, "devices", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "modalias"), []byte(alias+"\n"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	add("pci", "0000:00:03.0", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	add("acpi", "PNP0501:00", "acpi:PNP0501:")
	add("platform", "serial8250", "platform:serial8250")
	ix := indexOf("pci:v00001AF4d*sv*sd*bc*sc*i*", "virtio:d00000001v*", "fs-ext4")
	seen := map[string]bool{}
	got, err := busModaliases(sys, seen, ix.WantsBus)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"}; !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
	for p := range seen {
		if filepath.Base(filepath.Dir(filepath.Dir(p))) != "pci" {
			t.Errorf("read %s, on a bus no alias is for", p)
		}
	}
	// An ACPI alias makes every bus worth reading.
	ix = indexOf("pci:v00001AF4d*sv*sd*bc*sc*i*", "acpi*:PNP0501:*")
	got, err = busModaliases(sys, map[string]bool{}, ix.WantsBus)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("with an ACPI alias, read %q, want all three devices", got)
	}
}

// Every device of this machine's kernel is on a bus that an alias equal to
// its own modalias wants: busPrefixes knows every bus here whose devices'
// modaliases are not named after it. (The QEMU tests check a guest's
// buses in their own way: without the modules coldplug loads there, the
// guest has no network and no disk.)
func TestWantsBusForEveryDeviceHere(t *testing.T) {
	const sysBus = "/sys/bus"
	buses, err := os.ReadDir(sysBus)
	if err != nil {
		t.Fatalf("%s: %v (a Linux /sys is needed)", sysBus, err)
	}
	devices := 0
	for _, bus := range buses {
		dir := filepath.Join(sysBus, bus.Name(), "devices")
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			a, err := deviceModalias(filepath.Join(dir, e.Name()), bus.Name() == "cpu")
			if err != nil || a == "" {
				continue
			}
			devices++
			if !indexOf(a).WantsBus(bus.Name()) {
				t.Errorf("%s/%s: modalias %q: an alias for it does not want bus %s", dir, e.Name(), a, bus.Name())
			}
		}
	}
	t.Logf("%d devices with a modalias on %d buses", devices, len(buses))
	if devices == 0 {
		t.Errorf("no device under %s has a modalias", sysBus)
	}
}
