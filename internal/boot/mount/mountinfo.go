// Package mount does a machine's mounting at boot: the early virtual file
// systems (/proc, /sys, /dev, /dev/pts, /dev/shm, /run, the cgroup2
// hierarchy), each only when not mounted already, then /etc/fstab in order.
// It asks statx(2) whether a target is mounted already (reading
// /proc/self/mountinfo on kernels older than 5.8), and the mount table, in
// reverse, drives the unmounting at shutdown.
//
// It calls mount(2) itself and runs no mount program: file systems named by
// LABEL= or UUID= need a block-device probe, which ichi does not have, and
// are refused with a message saying so.
package mount

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MountinfoPath is the calling process's mount table.
const MountinfoPath = "/proc/self/mountinfo"

// Info is one line of /proc/self/mountinfo (proc(5)).
type Info struct {
	ID, Parent   int
	Root         string
	MountPoint   string
	Options      string // per-mount options
	FSType       string
	Source       string
	SuperOptions string // per-superblock options
}

// ReadMountinfo reads and parses path (MountinfoPath when empty).
func ReadMountinfo(path string) ([]Info, error) {
	if path == "" {
		path = MountinfoPath
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mount: %w", err)
	}
	defer f.Close()
	infos, err := ParseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("mount: %s: %w", path, err)
	}
	return infos, nil
}

// ParseMountinfo parses the mountinfo format: "ID PARENT MAJ:MIN ROOT
// MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS", with
// spaces, tabs, newlines and backslashes in paths written as octal escapes.
func ParseMountinfo(r io.Reader) ([]Info, error) {
	var out []Info
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 10 || sep < 0 || len(f) < sep+3 || f[sep+1] == "-" {
			return nil, fmt.Errorf("line %d: malformed: %q", n, line)
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil || !strings.Contains(f[2], ":") {
			return nil, fmt.Errorf("line %d: malformed ids: %q", n, line)
		}
		in := Info{ID: id, Parent: parent, Root: unescape(f[3]), MountPoint: unescape(f[4]), Options: f[5],
			FSType: f[sep+1], Source: unescape(f[sep+2])}
		if len(f) > sep+3 {
			in.SuperOptions = f[sep+3]
		}
		out = append(out, in)
	}
	return out, sc.Err()
}

// unescape undoes the kernel's \ooo escapes.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			v, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '7' {
			return false
		}
	}
	return s[0] <= '3'
}

// statxMountRoot reports whether path (its symbolic links followed, as
// mount(2) follows them) is the root of a mount, from statx(2)'s
// STATX_ATTR_MOUNT_ROOT; a path that does not exist is not. ok is false
// when the kernel does not tell (before Linux 5.8) or statx fails: the
// caller then reads the mount table. The table costs more than its size
// suggests at boot: the first read and parse of /proc/self/mountinfo took
// 14-18 ms of a TCG guest's boot (a second one 0.7 ms: it is the code run
// for the first time that costs), and with statx the early mounts took
// 15-24 ms from init's start instead of 30.
func statxMountRoot(path string) (mounted, ok bool) {
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_STATX_DONT_SYNC, unix.STATX_TYPE, &st)
	if errors.Is(err, unix.ENOENT) {
		return false, true
	}
	if err != nil || st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return false, false
	}
	return st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, true
}

// IsMountPoint reports whether path is a mount point in infos.
func IsMountPoint(infos []Info, path string) bool {
	for _, in := range infos {
		if in.MountPoint == path {
			return true
		}
	}
	return false
}
