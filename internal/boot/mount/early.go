package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// A Mount is one early mount.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
}

// EarlyMounts are the virtual file systems a machine needs before anything
// else, in order.
var EarlyMounts = []Mount{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=620,ptmxmode=000"},
	{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "nsdelegate"},
}

// MountEarly mounts each of mounts under root ("/" on a machine) whose
// target is not a mount point yet, creating the directory when missing.
// statx(2) tells whether a target is a mount point; on a kernel before
// 5.8 it reads the mount table from root's /proc/self/mountinfo instead,
// mounting /proc first when it is not there (until then, nothing is known
// to be mounted). Each failure is reported and the rest still mounted. It
// returns the targets it mounted.
func MountEarly(root string, mounts []Mount) (mounted []string, err error) {
	var errs []error
	// Without statx's answer, the table is read once, as soon as /proc is
	// there: what is mounted after that is mounted here, and each target
	// comes once.
	var infos []Info
	known := false
	for _, m := range mounts {
		target := filepath.Join(root, m.Target)
		isMount, ok := statxMountRoot(target)
		if !ok {
			if !known {
				var ierr error
				infos, ierr = ReadMountinfo(filepath.Join(root, "/proc/self/mountinfo"))
				known = ierr == nil
			}
			isMount = known && IsMountPoint(infos, target)
		}
		if isMount {
			continue
		}
		if err := os.MkdirAll(target, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("mount: %w", err))
			continue
		}
		err := unix.Mount(m.Source, target, m.FSType, m.Flags, m.Data)
		if errors.Is(err, unix.EINVAL) && m.Data != "" {
			// An older kernel that lacks an option (nsdelegate):
			// mount without the data.
			err = unix.Mount(m.Source, target, m.FSType, m.Flags, "")
		}
		if errors.Is(err, unix.EBUSY) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("mount: %s on %s: %w", m.FSType, target, err))
			continue
		}
		mounted = append(mounted, target)
	}
	return mounted, errors.Join(errs...)
}
