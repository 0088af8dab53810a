// Command ichi-vm builds a bootable ichi image from service directories,
// programs and files, and boots it under QEMU with the console on the
// terminal:
//
//	go run ./cmd/ichi-vm run -service ./myservice -program /usr/sbin/foo -port 8080:80
//
// Subcommands:
//
//	run [flags]             build the image and boot it (ctrl-a x quits QEMU)
//	build -o FILE [flags]   build the image and write it to FILE
//	appliance [flags] NAME  boot the appliance in DIR/NAME (-dir, default ./appliance)
//	demo [flags]            the same for the mail appliance (make run)
//
// Flags (the list ones may repeat):
//
//	-service DIR        install DIR as /service/BASENAME
//	-program SRC[:DST]  copy a program and the shared libraries it needs
//	-file SRC:DST       copy a file or a directory tree
//	-module NAME        add a kernel module with its dependencies
//	-port HOST:GUEST    forward 127.0.0.1:HOST to the guest's TCP port GUEST
//	-disk IMG[:SIZE[:DIR]]
//	                    attach the raw disk image IMG as the next virtio disk
//	                    (/dev/vda first); when IMG does not exist and SIZE
//	                    is given ("256M"), it is made first, an ext4 file
//	                    system holding a copy of DIR (or empty), and kept
//	                    for the next boots
//	-append WORDS       more kernel command line words
//	-memory SIZE        guest memory (256M)
//	-kernel DIR         kernel directory (vmlinuz, modules, version); default
//	                    $ICHI_KERNEL or .cache/kernel
//	-init PATH          the static ichi binary; default $ICHI_BIN or go build
//	-agent              also run vmagent (vmtest's command channel)
//	-o FILE             write the image to FILE and do not boot it
//	-v                  list the image's contents
//	-timeout DURATION   kill QEMU after this long
//
// An appliance is a directory: service/NAME are its service directories,
// rootfs/ is copied over the image's root (its /etc files, say), and
// ichi-vm.flags, when present, holds more of the flags above, one per line
// ("-port 2525:25", "-program /usr/sbin/exim4"; '#' starts a comment), whose
// relative paths are relative to the appliance's directory. Flags on the
// command line are added to the appliance's.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ichi-init/ichi/initramfs"
	"github.com/ichi-init/ichi/vmtest"
)

const name = "ichi-vm"

// DemoAppliance is the appliance `ichi-vm demo` (and `make run`) boots.
const DemoAppliance = "mail"

// ApplianceFile is the name of an appliance's description in its directory.
const ApplianceFile = "ichi-vm.flags"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func usage(w io.Writer) int {
	fmt.Fprintf(w, "%s: usage: %s run|build -o FILE|appliance NAME|demo [flags] (see go doc ./cmd/ichi-vm)\n", name, name)
	return 100
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return usage(stderr)
	}
	sub, args := args[0], args[1:]
	c := newConfig("")
	fs := c.flags(sub)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 100
	}
	switch sub {
	case "run", "build":
		if fs.NArg() != 0 {
			return usage(stderr)
		}
	case "appliance", "demo":
		appliance := DemoAppliance
		if sub == "appliance" {
			if fs.NArg() != 1 {
				return usage(stderr)
			}
			appliance = fs.Arg(0)
		} else if fs.NArg() != 0 {
			return usage(stderr)
		}
		base, err := loadAppliance(filepath.Join(c.applianceDir, appliance))
		if err != nil {
			fmt.Fprintf(stderr, "%s: fatal: %v\n", name, err)
			return 111
		}
		c = base.merge(c)
	default:
		return usage(stderr)
	}
	if sub == "build" && c.output == "" {
		fmt.Fprintf(stderr, "%s: fatal: build needs -o FILE\n", name)
		return 100
	}
	code, err := c.execute(sub == "build" || c.output != "", stdin, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: fatal: %v\n", name, err)
	}
	return code
}

// listFlag is a flag that may repeat; each value keeps the directory
// relative paths in it are relative to.
type listFlag struct {
	base string
	vals *[]value
}

type value struct{ base, s string }

func (l listFlag) String() string {
	if l.vals == nil {
		return ""
	}
	var s []string
	for _, v := range *l.vals {
		s = append(s, v.s)
	}
	return strings.Join(s, ",")
}

func (l listFlag) Set(s string) error {
	*l.vals = append(*l.vals, value{l.base, s})
	return nil
}

// config is everything the flags say.
type config struct {
	base                              string
	services, programs, files         []value
	modules, ports, disks             []value
	appendWords, memory, kernel, init string
	output, applianceDir              string
	agent, verbose                    bool
	timeout                           time.Duration
}

func newConfig(base string) *config { return &config{base: base} }

func (c *config) flags(sub string) *flag.FlagSet {
	fs := flag.NewFlagSet(name+" "+sub, flag.ContinueOnError)
	fs.Var(listFlag{c.base, &c.services}, "service", "service directory to install as /service/BASENAME")
	fs.Var(listFlag{c.base, &c.programs}, "program", "SRC[:DST] program copied with its shared libraries")
	fs.Var(listFlag{c.base, &c.files}, "file", "SRC:DST file or directory to copy")
	fs.Var(listFlag{c.base, &c.modules}, "module", "kernel module to add")
	fs.Var(listFlag{c.base, &c.ports}, "port", "HOST:GUEST TCP port to forward")
	fs.Var(listFlag{c.base, &c.disks}, "disk", "IMG[:SIZE[:DIR]] raw disk image (made as ext4 of SIZE from DIR when missing)")
	fs.StringVar(&c.appendWords, "append", "", "more kernel command line words")
	fs.StringVar(&c.memory, "memory", "256M", "guest memory")
	fs.StringVar(&c.kernel, "kernel", "", "kernel directory (vmlinuz, modules, version)")
	fs.StringVar(&c.init, "init", "", "static ichi binary")
	fs.StringVar(&c.output, "o", "", "write the image here and do not boot it")
	fs.StringVar(&c.applianceDir, "dir", "appliance", "directory holding the appliances")
	fs.BoolVar(&c.agent, "agent", false, "also run vmagent, the vmtest command channel")
	fs.BoolVar(&c.verbose, "v", false, "list the image's contents")
	fs.DurationVar(&c.timeout, "timeout", 0, "kill QEMU after this long (0: never)")
	return fs
}

// merge returns c with the flags of top added: lists are appended, and
// strings and booleans top sets replace c's.
func (c *config) merge(top *config) *config {
	out := *c
	out.services = append(out.services, top.services...)
	out.programs = append(out.programs, top.programs...)
	out.files = append(out.files, top.files...)
	out.modules = append(out.modules, top.modules...)
	out.ports = append(out.ports, top.ports...)
	out.disks = append(out.disks, top.disks...)
	out.appendWords = strings.TrimSpace(out.appendWords + " " + top.appendWords)
	for _, p := range []struct{ dst, src *string }{{&out.kernel, &top.kernel}, {&out.init, &top.init}, {&out.output, &top.output}} {
		if *p.src != "" {
			*p.dst = *p.src
		}
	}
	if top.timeout != 0 {
		out.timeout = top.timeout
	}
	if top.memory != "256M" {
		out.memory = top.memory
	}
	out.agent = out.agent || top.agent
	out.verbose = out.verbose || top.verbose
	return &out
}

// loadAppliance reads an appliance directory: service/* become services,
// rootfs/ is copied over the image's root, and ichi-vm.flags, when it
// exists, adds flags (programs, ports, modules, kernel words).
func loadAppliance(dir string) (*config, error) {
	c := newConfig(dir)
	found := false
	services, err := os.ReadDir(filepath.Join(dir, "service"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("appliance: %w", err)
	}
	for _, s := range services {
		if s.IsDir() {
			c.services = append(c.services, value{dir, filepath.Join("service", s.Name())})
			found = true
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "rootfs")); err == nil && fi.IsDir() {
		c.files = append(c.files, value{dir, "rootfs:/"})
		found = true
	}
	p := filepath.Join(dir, ApplianceFile)
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		if !found {
			return nil, fmt.Errorf("appliance %s: %s has no service/, rootfs/ or %s", filepath.Base(dir), dir, ApplianceFile)
		}
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("appliance: %w", err)
	}
	defer f.Close()
	fs := c.flags("appliance")
	fs.SetOutput(io.Discard)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		flagName, val, hasVal := strings.Cut(line, " ")
		args := []string{flagName}
		if hasVal {
			args = append(args, strings.TrimSpace(val))
		}
		if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
			return nil, fmt.Errorf("%s:%d: bad line %q: %v", p, n, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return c, nil
}

func rel(v value, p string) string {
	if filepath.IsAbs(p) || v.base == "" {
		return p
	}
	return filepath.Join(v.base, p)
}

// spec turns the flags into an image description.
func (c *config) spec() (initramfs.Spec, []vmtest.Forward, error) {
	var spec initramfs.Spec
	spec.Init = c.init
	if c.kernel != "" {
		k, err := initramfs.LoadKernel(c.kernel)
		if err != nil {
			return spec, nil, err
		}
		spec.Kernel = k
	}
	for _, v := range c.services {
		dir := rel(v, v.s)
		spec.Services = append(spec.Services, initramfs.Service{Name: filepath.Base(filepath.Clean(dir)), Dir: dir})
	}
	for _, v := range c.programs {
		src, dst, _ := strings.Cut(v.s, ":")
		spec.Programs = append(spec.Programs, initramfs.Program{Src: rel(v, src), Dst: dst})
	}
	for _, v := range c.files {
		src, dst, ok := strings.Cut(v.s, ":")
		if !ok || dst == "" {
			return spec, nil, fmt.Errorf("-file %q: want SRC:DST", v.s)
		}
		spec.Files = append(spec.Files, initramfs.File{Src: rel(v, src), Dst: dst})
	}
	for _, v := range c.modules {
		spec.Modules = append(spec.Modules, v.s)
	}
	var fwd []vmtest.Forward
	for _, v := range c.ports {
		f, err := vmtest.ParseForward(v.s)
		if err != nil {
			return spec, nil, err
		}
		fwd = append(fwd, f)
	}
	spec, err := vmtest.PrepareSpec(vmtest.Options{Spec: spec, NoAgent: !c.agent})
	return spec, fwd, err
}

// execute builds the image and writes it (build) or boots it (the others).
func (c *config) execute(buildOnly bool, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	spec, fwd, err := c.spec()
	if err != nil {
		return 111, err
	}
	im, err := initramfs.Build(spec)
	if err != nil {
		return 111, err
	}
	if c.verbose {
		fmt.Fprint(stderr, im)
	}
	out := c.output
	if !buildOnly {
		dir, err := os.MkdirTemp("", "ichi-vm-")
		if err != nil {
			return 111, err
		}
		defer os.RemoveAll(dir)
		out = filepath.Join(dir, "initramfs.cpio.lz4")
	}
	if err := im.WriteFile(out); err != nil {
		return 111, err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return 111, err
	}
	fmt.Fprintf(stderr, "%s: image %s: %d bytes, kernel %s, modules %s\n", name, out, fi.Size(), im.KernelVersion, strings.Join(im.Modules, " "))
	if buildOnly {
		return 0, nil
	}
	disks, err := c.makeDisks(stderr)
	if err != nil {
		return 111, err
	}
	m := vmtest.Machine{
		Disks:       disks,
		Kernel:      spec.Kernel.Image,
		Initrd:      out,
		Append:      append(vmtest.DefaultAppend(strings.Fields(c.appendWords)), strings.Fields(c.appendWords)...),
		Memory:      c.memory,
		Forwards:    fwd,
		Interactive: isTerminal(stdin),
	}
	for _, f := range fwd {
		fmt.Fprintf(stderr, "%s: 127.0.0.1:%d -> guest port %d\n", name, f.HostPort, f.GuestPort)
	}
	if m.Interactive {
		fmt.Fprintf(stderr, "%s: console follows; ctrl-a x quits QEMU\n", name)
	}
	prog, args := m.Command()
	ctx := context.Background()
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return 111, fmt.Errorf("%s: killed after -timeout %v", prog, c.timeout)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), fmt.Errorf("%s: %w", prog, err)
		}
		return 111, fmt.Errorf("%s: %w", prog, err)
	}
	return 0, nil
}

// makeDisks returns the paths of the -disk images, making those that do
// not exist yet when the flag gives their size (and filling them from the
// flag's directory).
func (c *config) makeDisks(stderr io.Writer) ([]string, error) {
	var paths []string
	for _, v := range c.disks {
		img, size, _ := strings.Cut(v.s, ":")
		size, from, _ := strings.Cut(size, ":")
		img = rel(v, img)
		if from != "" {
			from = rel(v, from)
		}
		if _, err := os.Stat(img); errors.Is(err, os.ErrNotExist) && size != "" {
			if err := os.MkdirAll(filepath.Dir(img), 0o755); err != nil {
				return nil, fmt.Errorf("-disk %s: %w", v.s, err)
			}
			if err := vmtest.MakeDisk(img, size, from); err != nil {
				return nil, err
			}
			fmt.Fprintf(stderr, "%s: made %s (ext4, %s)\n", name, img, size)
		} else if err != nil {
			return nil, fmt.Errorf("-disk %s: %w", v.s, err)
		}
		paths = append(paths, img)
	}
	return paths, nil
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
