package mount

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ichi-init/ichi/internal/rawcall"
)

// Entry is one line of /etc/fstab (fstab(5)).
type Entry struct {
	Line    int
	Spec    string // what to mount
	File    string // where
	VfsType string
	Options Options
	RawOpts string
	Freq    int
	Passno  int
}

func (e Entry) String() string {
	return fmt.Sprintf("fstab line %d (%s %s %s)", e.Line, e.Spec, e.File, e.VfsType)
}

// ParseFstab reads fstab lines: SPEC FILE VFSTYPE [OPTIONS [FREQ [PASSNO]]],
// blanks separating, '#' starting a comment, \040 for a space in a path.
// The first bad line stops it with an error naming it.
func ParseFstab(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || len(f) > 6 {
			return out, fmt.Errorf("fstab line %d: want 3 to 6 fields (spec file type options freq passno), got %d: %q", n, len(f), line)
		}
		e := Entry{Line: n, Spec: unescape(f[0]), File: unescape(f[1]), VfsType: f[2], RawOpts: "defaults"}
		if len(f) > 3 {
			e.RawOpts = f[3]
		}
		var err error
		if e.Options, err = ParseOptions(e.RawOpts); err != nil {
			return out, fmt.Errorf("fstab line %d: %w", n, err)
		}
		for i, p := range []*int{&e.Freq, &e.Passno} {
			if len(f) > 4+i {
				if *p, err = strconv.Atoi(f[4+i]); err != nil || *p < 0 {
					return out, fmt.Errorf("fstab line %d: field %d (%s) %q is not a number", n, 5+i, []string{"freq", "passno"}[i], f[4+i])
				}
			}
		}
		if e.VfsType != "swap" && !strings.HasPrefix(e.File, "/") {
			return out, fmt.Errorf("fstab line %d: mount point %q is not an absolute path", n, e.File)
		}
		if strings.HasPrefix(e.Spec, "LABEL=") || strings.HasPrefix(e.Spec, "UUID=") ||
			strings.HasPrefix(e.Spec, "PARTUUID=") || strings.HasPrefix(e.Spec, "PARTLABEL=") {
			return out, fmt.Errorf("fstab line %d: %s: ichi cannot look up LABEL=, UUID= and the like; name the device (/dev/vda1)", n, e.Spec)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// MountFstab mounts the entries of the fstab at path in order: those not
// noauto, and not mounted already (by mount point). A swap entry is
// swapon'ed. Each failure is reported with its line, and the rest still
// get mounted; a nofail entry's failure is left out. It returns what it
// mounted.
func MountFstab(path string) (mounted []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("mount: %w", err)
	}
	entries, perr := ParseFstab(f)
	f.Close()
	var errs []error
	if perr != nil {
		errs = append(errs, fmt.Errorf("%s: %w", path, perr))
	}
	for _, e := range entries {
		if e.Options.NoAuto {
			continue
		}
		if e.VfsType != "swap" && e.Options.Flags&unix.MS_REMOUNT == 0 {
			isMount, ok := statxMountRoot(e.File)
			if !ok {
				infos, err := ReadMountinfo("")
				if err != nil {
					return mounted, errors.Join(append(errs, err)...)
				}
				isMount = IsMountPoint(infos, e.File)
			}
			if isMount {
				continue
			}
		}
		if err := MountEntry(e); err != nil {
			if !e.Options.NoFail {
				errs = append(errs, fmt.Errorf("%s: %s: %w", path, e, err))
			}
			continue
		}
		mounted = append(mounted, e.File)
	}
	return mounted, errors.Join(errs...)
}

// MountEntry mounts one entry (or swapon's it).
func MountEntry(e Entry) error {
	if e.VfsType == "swap" {
		p, err := unix.BytePtrFromString(e.Spec)
		if err != nil {
			return err
		}
		if _, _, errno := unix.Syscall(unix.SYS_SWAPON, uintptr(unsafe.Pointer(p)), 0, 0); errno != 0 {
			return fmt.Errorf("swapon %s: %w", e.Spec, errno)
		}
		return nil
	}
	// A raw call (package rawcall): mounting a disk's file system keeps
	// the kernel busy for tens of milliseconds at boot.
	if err := rawcall.Mount(e.Spec, e.File, e.VfsType, e.Options.Flags, e.Options.Data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", e.Spec, e.File, err)
	}
	// A bind mount ignores the flags but MS_BIND|MS_REC; apply them with
	// a remount, as mount(8) does.
	if e.Options.Flags&unix.MS_BIND != 0 && e.Options.Flags&^(unix.MS_BIND|unix.MS_REC) != 0 {
		fl := e.Options.Flags&^unix.MS_REC | unix.MS_REMOUNT
		if err := unix.Mount("", e.File, "", fl, ""); err != nil {
			return fmt.Errorf("remount bind %s: %w", e.File, err)
		}
	}
	return nil
}
