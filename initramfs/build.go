package initramfs

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// KernelVersionFile is where the image records the version of the kernel
// its modules belong to.
const KernelVersionFile = "/etc/ichi-kernel"

// baseDirs are made in every image.
var baseDirs = []struct {
	path string
	perm fs.FileMode
}{
	{"/bin", 0o755}, {"/sbin", 0o755}, {"/usr/bin", 0o755}, {"/usr/sbin", 0o755},
	{"/dev", 0o755}, {"/proc", 0o555}, {"/sys", 0o555}, {"/run", 0o755},
	{"/tmp", 0o777 | fs.ModeSticky}, {"/root", 0o700}, {"/etc", 0o755},
	{"/var", 0o755}, {"/var/log", 0o755}, {"/service", 0o755},
}

// baseFiles are the /etc files every image gets; Spec.Files may replace
// them.
var baseFiles = map[string]string{
	"/etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
	"/etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	"/etc/hosts":  "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
}

// Build makes the image the spec describes. It reads every input file into
// memory; nothing is written until WriteTo or WriteFile.
func Build(spec Spec) (*Image, error) {
	im := newImage()
	for _, d := range baseDirs {
		if err := im.AddDir(d.path, d.perm); err != nil {
			return nil, err
		}
	}
	// The kernel opens /dev/console before it runs /init; the node is in
	// its built-in initramfs too, but an image that has it does not depend
	// on that.
	if err := im.AddCharDev("/dev/console", 0o600, 5, 1); err != nil {
		return nil, err
	}
	for p, data := range baseFiles {
		if err := im.AddFile(p, 0o644, []byte(data)); err != nil {
			return nil, err
		}
	}
	if spec.Busybox != "" {
		if err := im.addBusybox(spec.Busybox); err != nil {
			return nil, err
		}
	}
	if spec.Init != "" {
		if err := im.addInit(spec.Init, spec.InitTools); err != nil {
			return nil, err
		}
	}
	for _, p := range spec.Programs {
		if err := im.addProgram(p); err != nil {
			return nil, err
		}
	}
	if spec.Kernel.Version != "" {
		im.KernelVersion = spec.Kernel.Version
		if err := im.AddFile(KernelVersionFile, 0o644, []byte(spec.Kernel.Version+"\n")); err != nil {
			return nil, err
		}
	}
	if len(spec.Modules) > 0 {
		if spec.Kernel.Version == "" {
			return nil, fmt.Errorf("initramfs: modules asked for without a kernel version")
		}
		if err := im.addModules(spec.Kernel, spec.Modules); err != nil {
			return nil, err
		}
	}
	for _, s := range spec.Services {
		if err := im.addService(s); err != nil {
			return nil, err
		}
	}
	for _, f := range spec.Files {
		if err := im.addFile(f); err != nil {
			return nil, err
		}
	}
	return im, nil
}

// addBusybox installs busybox as /bin/busybox and links its applets.
func (im *Image) addBusybox(bb string) error {
	data, err := os.ReadFile(bb)
	if err != nil {
		return fmt.Errorf("initramfs: busybox: %w", err)
	}
	out, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("initramfs: %s --list-full: %w", bb, err)
	}
	if err := im.AddFile("/bin/busybox", 0o755, data); err != nil {
		return err
	}
	for _, l := range strings.Fields(string(out)) {
		p := "/" + l
		if p == "/bin/busybox" {
			continue
		}
		if err := im.AddSymlink(p, "/bin/busybox"); err != nil {
			return fmt.Errorf("initramfs: busybox applet %s: %w", l, err)
		}
	}
	return nil
}

// addInit installs the ichi binary as /init and links its tools. A tool
// whose name busybox uses replaces busybox's link wherever that is, so the
// first one found in PATH is always ichi's.
func (im *Image) addInit(bin string, tools []string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("initramfs: init: %w", err)
	}
	if tools == nil {
		out, err := exec.Command(bin, "--list-tools").Output()
		if err != nil {
			return fmt.Errorf("initramfs: %s --list-tools: %w", bin, err)
		}
		tools = strings.Fields(string(out))
	}
	if err := im.AddFile("/init", 0o755, data); err != nil {
		return err
	}
	for _, t := range tools {
		if t == "" || strings.Contains(t, "/") {
			return fmt.Errorf("initramfs: %s lists a bad tool name %q", bin, t)
		}
		placed := false
		for _, dir := range []string{"/bin", "/sbin", "/usr/bin", "/usr/sbin"} {
			if im.Has(dir + "/" + t) {
				if err := im.AddSymlink(dir+"/"+t, "/init"); err != nil {
					return err
				}
				placed = true
			}
		}
		if !placed {
			if err := im.AddSymlink("/bin/"+t, "/init"); err != nil {
				return err
			}
		}
	}
	return nil
}

// addService installs one service directory.
func (im *Image) addService(s Service) error {
	if s.Name == "" || strings.Contains(s.Name, "/") || strings.HasPrefix(s.Name, ".") {
		return fmt.Errorf("initramfs: bad service name %q", s.Name)
	}
	dir := "/service/" + s.Name
	if s.Dir != "" {
		if err := im.copyTree(s.Dir, dir); err != nil {
			return err
		}
	} else if err := im.AddDir(dir, 0o755); err != nil {
		return err
	}
	scripts := []struct{ name, body string }{{"run", s.Run}, {"finish", s.Finish}, {"log/run", s.LogRun}}
	for _, sc := range scripts {
		if sc.body != "" {
			if err := im.AddFile(dir+"/"+sc.name, 0o755, []byte(sc.body)); err != nil {
				return err
			}
		}
	}
	if s.Multilog != "" {
		if err := im.AddFile(dir+"/log/multilog", 0o644, []byte(s.Multilog+"\n")); err != nil {
			return err
		}
	}
	if s.NotificationFD != 0 {
		if err := im.AddFile(dir+"/notification-fd", 0o644, []byte(fmt.Sprintf("%d\n", s.NotificationFD))); err != nil {
			return err
		}
	}
	if s.Down {
		if err := im.AddFile(dir+"/down", 0o644, nil); err != nil {
			return err
		}
	}
	for _, f := range s.Files {
		f.Dst = path.Join(dir, f.Dst)
		if err := im.addFile(f); err != nil {
			return err
		}
	}
	return nil
}

// addFile installs one File.
func (im *Image) addFile(f File) error {
	if f.Dst == "" {
		return fmt.Errorf("initramfs: file without a destination (source %q)", f.Src)
	}
	switch {
	case f.Src != "":
		fi, err := os.Lstat(f.Src)
		if err != nil {
			return fmt.Errorf("initramfs: file %s: %w", f.Dst, err)
		}
		if fi.IsDir() {
			return im.copyTree(f.Src, f.Dst)
		}
		if err := im.copyOne(f.Src, f.Dst, fi); err != nil {
			return err
		}
		if f.Mode != 0 {
			return im.AddFile(f.Dst, f.Mode, im.nodes[mustClean(f.Dst)].data)
		}
		return nil
	case f.Link != "":
		return im.AddSymlink(f.Dst, f.Link)
	case f.Mode.IsDir():
		return im.AddDir(f.Dst, f.Mode)
	default:
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		return im.AddFile(f.Dst, mode, f.Data)
	}
}

func mustClean(p string) string {
	c, _ := clean(p)
	return c
}

// copyOne copies one host file, symlink or directory (without contents).
func (im *Image) copyOne(src, dst string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return fmt.Errorf("initramfs: %s: %w", src, err)
		}
		return im.AddSymlink(dst, target)
	case fi.IsDir():
		return im.AddDir(dst, fi.Mode())
	case fi.Mode().IsRegular():
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		return im.AddFile(dst, fi.Mode(), data)
	default:
		return fmt.Errorf("initramfs: %s: not a regular file, directory or symlink (mode %v)", src, fi.Mode())
	}
}

// copyTree copies the host directory src to dst in the image. Named pipes
// and sockets (a service directory that ran under a supervisor has
// supervise/control and others) are skipped, and so is a supervise
// directory: it is state of a running supervisor, not part of the service.
func (im *Image) copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("initramfs: copy %s: %w", src, err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "supervise" && rel != "." {
			return filepath.SkipDir
		}
		if rel == "." && path.Clean("/"+dst) == "/" {
			return nil // a tree copied over the root: the root exists
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("initramfs: copy %s: %w", p, err)
		}
		if fi.Mode()&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice) != 0 {
			return nil
		}
		return im.copyOne(p, path.Join(dst, filepath.ToSlash(rel)), fi)
	})
}

// String lists the image, one entry per line, for tests and -v output.
func (im *Image) String() string {
	var b bytes.Buffer
	for _, p := range im.Paths() {
		n := im.nodes[p[1:]]
		switch n.kind {
		case kindDir:
			fmt.Fprintf(&b, "d %04o %s\n", n.perm, p)
		case kindFile:
			fmt.Fprintf(&b, "f %04o %s %d\n", n.perm, p, len(n.data))
		case kindSymlink:
			fmt.Fprintf(&b, "l %s -> %s\n", p, n.target)
		case kindCharDev:
			fmt.Fprintf(&b, "c %04o %s %d:%d\n", n.perm, p, n.major, n.minor)
		}
	}
	return b.String()
}
