package kmod

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Coldplug loads the modules the devices present ask for, as udev's
// coldplug does at boot: it reads the modalias of every device of every bus
// under sysBus (see DeviceModalias), looks each alias up and loads what
// matches. Loading a driver can make new devices appear, even new buses
// (virtio_pci makes the virtio bus and its network device, which wants
// virtio_net), so it looks again until a round loads nothing new, at most
// rounds times; a later round reads only the devices it has not seen.
// It returns the modules it loaded or found loaded, and the failures joined;
// one failure does not stop the others.
//
// The buses are read rather than the whole /sys/devices tree: every device
// with a modalias sits on a bus, and the tree has some thirty times more
// entries (a quarter of a second per walk in a TCG guest).
func (l *Loader) Coldplug(sysBus string, rounds int) ([]string, error) {
	var loaded []string
	var errs []error
	tried := map[string]bool{}
	seen := map[string]bool{} // device paths whose modalias was read
	for r := 0; r < rounds; r++ {
		aliases, err := busModaliases(sysBus, seen)
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

// busModaliases returns the distinct modaliases of the devices under
// sysBus/*/devices that are not in seen, in bus and device order, and adds
// those devices to seen. A device that cannot be read is skipped, and not
// marked seen.
func busModaliases(sysBus string, seen map[string]bool) ([]string, error) {
	buses, err := os.ReadDir(sysBus)
	if err != nil {
		return nil, err
	}
	var out []string
	distinct := map[string]bool{}
	for _, bus := range buses {
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
