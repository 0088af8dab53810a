// Package initramfs builds bootable initramfs images for ichi: an LZ4
// compressed "newc" cpio archive (the legacy LZ4 frames the kernel reads, as
// lz4 -l writes them) holding the static ichi binary as /init
// with its tool links, busybox with its applet links, programs with the
// shared libraries they need, a subset of the kernel's modules with their
// dependency files regenerated, service directories and any other files.
//
// The image is deterministic: the same Spec and the same input files give
// the same bytes (entries sorted by path, fixed mtimes, owners and inode
// numbers, and a compressor without time stamps), so images can be cached
// and compared.
//
// It is not a general root file system builder: there is no package
// manager, no users but root and nobody, and programs that load libraries
// with dlopen (glibc's NSS modules, plugins) get only what their ELF
// headers name.
package initramfs

import (
	"io/fs"
)

// Spec describes an image. The CLI (cmd/ichi-vm) and the test package
// (vmtest) both fill one and call Build.
//
// Entries are added in this order, a later one replacing an earlier one at
// the same path: base directories and /etc files, busybox and its applets,
// the init and its tool links, programs and their libraries, kernel
// modules, services, files.
type Spec struct {
	// Init is the path on the host of the static ichi binary. It becomes
	// /init, and every tool it lists with --list-tools becomes a symlink to
	// it in /bin (or where busybox had an applet of that name, replacing
	// it). Empty: no ichi in the image.
	Init string
	// InitTools, when not nil, is used instead of running Init --list-tools.
	InitTools []string
	// Busybox is the path of a static busybox. It becomes /bin/busybox,
	// with a symlink for each applet that busybox --list-full names.
	Busybox string
	// Programs are copied with the shared libraries they need.
	Programs []Program
	// Kernel names the kernel whose modules go into the image. Its
	// version is written to /etc/ichi-kernel.
	Kernel Kernel
	// Modules are kernel module names (as modprobe takes them; '-' and
	// '_' are the same) put into the image under /lib/modules/VERSION with
	// their dependencies, and with modules.dep, modules.alias and
	// modules.softdep written for that subset.
	Modules []string
	// Services become service directories in /service.
	Services []Service
	// Files are extra files, directories or symlinks.
	Files []File
}

// Program is a program copied into the image with the shared libraries its
// ELF headers ask for (DT_NEEDED, recursively, and the interpreter).
type Program struct {
	// Src is the path on the host.
	Src string
	// Dst is the path in the image; empty means the same as Src.
	Dst string
}

// File is one entry put into the image.
type File struct {
	// Dst is the path in the image.
	Dst string
	// Src is a file or directory on the host to copy (a directory is
	// copied with its whole tree, symlinks kept as symlinks). When Src is
	// empty, Data is the content, or Link the symlink target, or, with
	// Mode a directory, an empty directory is made.
	Src  string
	Data []byte
	// Link, when not empty, makes Dst a symbolic link to Link.
	Link string
	// Mode is the permission bits and, for a directory, fs.ModeDir. Zero
	// means 0644 for data, the host file's mode for Src.
	Mode fs.FileMode
}

// Service is a service directory installed as /service/NAME.
type Service struct {
	// Name is the directory's name in /service.
	Name string
	// Dir is a service directory on the host copied as a whole; the fields
	// below are added to (and replace files of) it.
	Dir string
	// Run, Finish and LogRun are the contents of run, finish and
	// log/run, written with mode 0755 when not empty.
	Run, Finish, LogRun string
	// Multilog, when not empty, is the content of log/multilog: the
	// arguments of the logger ichi runs in-process for the service, e.g.
	// "t ./main" (log/main relative to log/).
	Multilog string
	// NotificationFD, when not zero, is written to notification-fd: the
	// descriptor on which ./run writes a newline when it is ready (s6's
	// convention, which ichi's supervisor follows).
	NotificationFD int
	// Down, when true, creates the down file: the service is not started
	// at boot.
	Down bool
	// Files are more files, Dst relative to the service directory.
	Files []File
}

// Kernel is a kernel's module tree.
type Kernel struct {
	// Version is the release name (uname -r), e.g. 6.1.0-56-amd64.
	Version string
	// Modules is the directory /lib/modules/VERSION of that kernel on the
	// host, holding kernel/... and modules.builtin.
	Modules string
	// Image is the path of the kernel image (vmlinuz). Build does not
	// use it; it travels with the Spec for those who boot the image.
	Image string
}
