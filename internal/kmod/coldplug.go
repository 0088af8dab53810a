package kmod

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Coldplug loads the modules the devices present ask for, as udev's
// coldplug does at boot: it reads the modalias of the devices on the buses
// under sysBus (see DeviceModalias and WantsBus), looks each alias up and
// loads what matches. Loading a driver can make new devices appear, even
// new buses (virtio_pci makes the virtio bus and its network device, which
// wants virtio_net), so it looks again until a round loads nothing new, at
// most rounds times; a later round reads only the devices it has not seen.
// It returns the modules it loaded or found loaded, and the failures joined;
// one failure does not stop the others.
//
// The buses are read rather than the whole /sys/devices tree: every device
// with a modalias sits on a bus, and the tree has some thirty times more
// entries (a quarter of a second per walk in a TCG guest). And only the
// buses whose devices some alias could match are read (see WantsBus): an
// image with a few modules has aliases for two or three buses, and the
// other devices (a hundred ACPI and platform devices in a QEMU guest) cost
// 30 ms of a TCG boot to read for nothing.
func (l *Loader) Coldplug(sysBus string, rounds int) ([]string, error) {
	var loaded []string
	var errs []error
	tried := map[string]bool{}
	seen := map[string]bool{} // device paths whose modalias was read
	for r := 0; r < rounds; r++ {
		aliases, err := busModaliases(sysBus, seen, l.Index.WantsBus)
		if err != nil {
			errs = append(errs, err)
		}
		progress := false
		for _, a := range aliases {
			for _, m := range l.Index.Lookup(a) {
				if tried[m] {
					continue
				}
				tried[m] = true
				if err := l.Load(m); err != nil {
					errs = append(errs, err)
					continue
				}
				if !l.Index.Builtin[m] {
					loaded = append(loaded, m)
					progress = true
				}
			}
		}
		if !progress {
			break
		}
	}
	return loaded, errors.Join(errs...)
}

// busPrefixes names the buses whose devices' modaliases do not begin with
// the bus's name, with the prefixes they use instead (from the kernel's
// bus uevent functions and scripts/mod/file2alias.c). A processor's is
// "cpu:type:..."; kernels before 4.x wrote "x86cpu:".
var busPrefixes = map[string][]string{
	"cdmm":               {"mipscdmm"},
	"cpu":                {"cpu", "x86cpu"},
	"firewire":           {"ieee1394"},
	"mdio_bus":           {"mdio"},
	"ps3_system_bus":     {"ps3"},
	"slimbus":            {"slim"},
	"soundwire":          {"sdw"},
	"surface_aggregator": {"ssam"},
	"thunderbolt":        {"tbsvc"},
}

// firmwarePrefixes are the modalias prefixes of devices described by the
// firmware (ACPI, a device tree), which the devices of many buses use
// instead of their bus's own: a platform, I2C or SPI device's modalias is
// often "acpi:..." or "of:...".
var firmwarePrefixes = []string{"acpi", "of"}

// WantsBus reports whether some alias of the index could match the
// modalias of a device on the bus called bus: whether the text before an
// alias's ':' is, or as a pattern matches, one of the prefixes that bus's
// devices use (its own name, or busPrefixes', and the firmware's "acpi"
// and "of"). The one bus whose modaliases have no ':' at all, w1
// ("w1-family-XX"), is wanted when some alias has no ':'.
func (ix *Index) WantsBus(bus string) bool {
	ix.indexOnce.Do(ix.indexAliases)
	prefixes, ok := busPrefixes[bus]
	if !ok {
		prefixes = []string{bus}
	}
	for _, p := range slices.Concat(prefixes, firmwarePrefixes) {
		if len(ix.byBus[p]) > 0 {
			return true
		}
		for _, g := range ix.globBuses {
			if Match(g, p) {
				return true
			}
		}
	}
	return bus == "w1" && ix.colonless
}

// busModaliases returns the distinct modaliases of the devices under
// sysBus/*/devices that are not in seen, in bus and device order, and adds
// those devices to seen; only the buses for which wanted is true are read.
// A device that cannot be read is skipped, and not marked seen.
func busModaliases(sysBus string, seen map[string]bool, wanted func(bus string) bool) ([]string, error) {
	buses, err := os.ReadDir(sysBus)
	if err != nil {
		return nil, err
	}
	var out []string
	distinct := map[string]bool{}
	for _, bus := range buses {
		if !wanted(bus.Name()) {
			continue
		}
		dir := filepath.Join(sysBus, bus.Name(), "devices")
		devices, err := os.ReadDir(dir)
		if err != nil {
			continue // not a bus directory
		}
		for _, dev := range devices {
			p := filepath.Join(dir, dev.Name())
			if seen[p] {
				continue
			}
			// Only a processor has its modalias in its uevent
			// file alone; reading another device's uevent makes the
			// kernel build its whole event (a millisecond in a TCG
			// guest) for nothing.
			a, err := deviceModalias(p, bus.Name() == "cpu")
			if err != nil {
				continue // read again next round: a few rounds at most
			}
			seen[p] = true
			if a != "" && !distinct[a] {
				distinct[a] = true
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// DeviceModalias returns the modalias of the device directory dir: its
// modalias file, or for a device without one (a processor: /sys/bus/cpu/
// devices/cpu0) the MODALIAS line of its uevent file; "" when it has
// neither.
func DeviceModalias(dir string) (string, error) { return deviceModalias(dir, true) }

// deviceModalias reads dir/modalias, and dir/uevent when there is none and
// uevent is set.
func deviceModalias(dir string, uevent bool) (string, error) {
	var buf [sysfsMax]byte
	n, err := readSysfs(filepath.Join(dir, "modalias"), buf[:])
	if err == nil {
		return strings.TrimSpace(string(buf[:n])), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if !uevent {
		return "", nil
	}
	if n, err = readSysfs(filepath.Join(dir, "uevent"), buf[:]); err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		if a, ok := strings.CutPrefix(line, "MODALIAS="); ok {
			return strings.TrimSpace(a), nil
		}
	}
	return "", nil
}

// sysfsMax is the most a sysfs attribute holds: a page.
const sysfsMax = 4096

// readSysfs reads the sysfs attribute at path into buf, in one read: the
// kernel renders an attribute whole. Raw system calls, not an os.File:
// coldplug reads a hundred of these at boot, where each os.File would cost
// two more system calls (fstat) and its set-up, and each system call made
// the usual way can wake the runtime's monitor thread (see package
// rawcall); reading an attribute never blocks.
func readSysfs(path string, buf []byte) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return 0, err
	}
	atCwd := unix.AT_FDCWD
	fd, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(atCwd), uintptr(unsafe.Pointer(p)),
		unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if errno != 0 {
		return 0, &fs.PathError{Op: "open", Path: path, Err: errno}
	}
	n, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)))
	unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	if errno != 0 {
		return 0, &fs.PathError{Op: "read", Path: path, Err: errno}
	}
	return int(n), nil
}
