package mount

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Options is a mount option string split into what mount(2) takes and what
// only the mount program reads.
type Options struct {
	Flags uintptr
	// Data are the options passed to the file system, comma separated.
	Data string
	// NoAuto: not mounted at boot (noauto).
	NoAuto bool
	// NoFail: a failure is a warning (nofail).
	NoFail bool
}

// A flagOption is a generic mount option: it sets flags, or clears them.
type flagOption struct {
	name  string
	set   bool
	flags uintptr
}

// flagOptions are the generic options that set or clear mount flags. A
// slice rather than a map: a few dozen names are searched as fast, and the
// linker lays the slice out instead of code building a map at every start.
var flagOptions = []flagOption{
	{"ro", true, unix.MS_RDONLY}, {"rw", false, unix.MS_RDONLY},
	{"nosuid", true, unix.MS_NOSUID}, {"suid", false, unix.MS_NOSUID},
	{"nodev", true, unix.MS_NODEV}, {"dev", false, unix.MS_NODEV},
	{"noexec", true, unix.MS_NOEXEC}, {"exec", false, unix.MS_NOEXEC},
	{"sync", true, unix.MS_SYNCHRONOUS}, {"async", false, unix.MS_SYNCHRONOUS},
	{"dirsync", true, unix.MS_DIRSYNC},
	{"noatime", true, unix.MS_NOATIME}, {"atime", false, unix.MS_NOATIME},
	{"nodiratime", true, unix.MS_NODIRATIME}, {"diratime", false, unix.MS_NODIRATIME},
	{"relatime", true, unix.MS_RELATIME}, {"norelatime", false, unix.MS_RELATIME},
	{"strictatime", true, unix.MS_STRICTATIME},
	{"lazytime", true, unix.MS_LAZYTIME}, {"nolazytime", false, unix.MS_LAZYTIME},
	{"mand", true, unix.MS_MANDLOCK}, {"nomand", false, unix.MS_MANDLOCK},
	{"silent", true, unix.MS_SILENT}, {"loud", false, unix.MS_SILENT},
	{"bind", true, unix.MS_BIND}, {"rbind", true, unix.MS_BIND | unix.MS_REC},
	{"remount", true, unix.MS_REMOUNT},
}

// userOptions are read by mount(8) and others, never passed to the kernel.
var userOptions = []string{
	"defaults", "auto", "user", "nouser", "users",
	"owner", "group", "_netdev", "noauto", "nofail",
}

// ParseOptions splits a comma-separated option list as mount(8) does: the
// generic options become flags, later ones overriding earlier ones (ro then
// rw is rw); mount(8)'s own (defaults, auto, user, nofail, x-*, comment=...)
// are dropped; everything else is passed to the file system in Data.
func ParseOptions(s string) (Options, error) {
	var o Options
	var data []string
	for _, opt := range strings.Split(s, ",") {
		switch {
		case opt == "":
			continue
		case opt == "noauto":
			o.NoAuto = true
		case opt == "auto":
			o.NoAuto = false
		case opt == "nofail":
			o.NoFail = true
		case slices.Contains(userOptions, opt), strings.HasPrefix(opt, "x-"), strings.HasPrefix(opt, "comment="):
		default:
			if i := slices.IndexFunc(flagOptions, func(f flagOption) bool { return f.name == opt }); i >= 0 {
				if f := flagOptions[i]; f.set {
					o.Flags |= f.flags
				} else {
					o.Flags &^= f.flags
				}
				continue
			}
			if strings.ContainsAny(opt, " \t\n") {
				return o, fmt.Errorf("option %q has a blank", opt)
			}
			data = append(data, opt)
		}
	}
	o.Data = strings.Join(data, ",")
	return o, nil
}
