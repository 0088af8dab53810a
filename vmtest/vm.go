package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ichi-init/ichi/initramfs"
	"github.com/ichi-init/ichi/internal/vmagent"
)

// DefaultModules are put into every image: what a QEMU guest needs for
// its network card, the agent's serial port, a disk and ext4. The init
// loads them (ichi's coldplug does, from modules.alias). ext4 asks for
// crc32c by an alias when it mounts (a softdep the image cannot resolve);
// QEMU's default CPU has no SSE4.2, so crc32c_generic is the module that
// serves it — without it the mount fails with ENOENT.
var DefaultModules = []string{"virtio_pci", "virtio_net", "virtio_console", "virtio_blk", "ext4", "crc32c_generic"}

// AgentService is the name of the service directory that runs the guest
// agent under ichi's supervision.
const AgentService = "vmagent"

// Options describe a VM.
type Options struct {
	// Name names the VM in messages; Start uses the test's name.
	Name string
	// Spec is the image. vmtest fills in what is empty: Init (the ichi
	// binary), Busybox (DefaultBusybox), Kernel (FindKernel), and adds
	// DefaultModules and the agent's service.
	Spec initramfs.Spec
	// NoAgent leaves the agent's service out of the image (a guest whose
	// init is not ichi starts "vmagent &" itself, or has no agent).
	NoAgent bool
	// Append are more kernel command line words, e.g. "rdinit=/my-init"
	// to boot another program than ichi's /init. DefaultAppend's words
	// come first.
	Append []string
	// Ports are guest TCP ports to forward from free ports on the host's
	// loopback (HostPort tells which).
	Ports []int
	// Memory is QEMU's -m; empty means 256M.
	Memory string
	// CPUs is the guest's processor count; zero means 1.
	CPUs int
	// Timeout bounds the whole life of the VM: when it expires QEMU is
	// killed. Zero means 5 minutes.
	Timeout time.Duration
	// PoweroffCommand is what Poweroff runs in the guest; empty means
	// "poweroff" (ichi's tool, which asks PID 1 for an orderly shutdown).
	PoweroffCommand string
	// Console, when not nil, receives the console as it arrives.
	Console io.Writer
	// Disks are raw disk images (see MakeDisk) attached as virtio disks,
	// /dev/vda first. The VM writes to them; they outlive it.
	Disks []string
}

// VM is a running guest.
type VM struct {
	name      string
	opts      Options
	dir       string
	image     *initramfs.Image
	forwards  []Forward
	monitor   string // QEMU's monitor socket
	cmd       *exec.Cmd
	console   *console
	qemuErr   bytes.Buffer // QEMU's own stderr
	exited    chan struct{}
	exitErr   error
	agent     *vmagent.Client
	agentMu   sync.Mutex
	agentUp   bool
	stopTimer *time.Timer
	panicOnce sync.Once
	panicKill *time.Timer
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start builds the image, boots it and returns the VM; the test fails at
// once if that is not possible, and is skipped (failed under CI=true)
// when QEMU or the kernel is missing. The VM is killed when the test ends.
func Start(t testing.TB, opts Options) *VM {
	t.Helper()
	if _, err := exec.LookPath(DefaultQEMU); err != nil {
		missing(t, "%s not found (install qemu-system-x86)", DefaultQEMU)
	}
	if _, err := FindKernel(); err != nil {
		missing(t, "%v", err)
	}
	if opts.Name == "" {
		opts.Name = t.Name()
	}
	dir, err := os.MkdirTemp("", "vmtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	vm, err := boot(opts, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	return vm
}

// missing skips, or fails under CI=true, for a dependency that is absent.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing dependency under CI=true: "+format, args...)
	}
	t.Skipf("missing dependency: "+format, args...)
}

// New builds the image and boots it outside a test; dir holds the image
// and the agent's socket and must exist. Close stops the VM.
func New(opts Options, dir string) (*VM, error) {
	if opts.Name == "" {
		opts.Name = "vm"
	}
	return boot(opts, dir)
}

// PrepareSpec fills in what opts.Spec leaves empty, as Start does.
func PrepareSpec(opts Options) (initramfs.Spec, error) {
	spec := opts.Spec
	if spec.Init == "" {
		p, err := FindIchi()
		if err != nil {
			return spec, err
		}
		spec.Init = p
	}
	if spec.Busybox == "" {
		spec.Busybox = DefaultBusybox
	}
	if spec.Kernel.Version == "" {
		k, err := FindKernel()
		if err != nil {
			return spec, err
		}
		spec.Kernel = k
	}
	mods := slices.Clone(spec.Modules)
	for _, m := range DefaultModules {
		if !slices.Contains(mods, m) {
			mods = append(mods, m)
		}
	}
	spec.Modules = mods
	if !opts.NoAgent {
		spec.Services = append(slices.Clone(spec.Services), initramfs.Service{
			Name: AgentService,
			Run:  "#!/bin/sh\nexec vmagent 2>&1\n",
		})
	}
	return spec, nil
}

func boot(opts Options, dir string) (*VM, error) {
	spec, err := PrepareSpec(opts)
	if err != nil {
		return nil, err
	}
	im, err := initramfs.Build(spec)
	if err != nil {
		return nil, fmt.Errorf("vmtest %s: %w", opts.Name, err)
	}
	initrd := filepath.Join(dir, "initramfs.cpio.lz4")
	if err := im.WriteFile(initrd); err != nil {
		return nil, fmt.Errorf("vmtest %s: %w", opts.Name, err)
	}
	// QEMU cannot bind a forwarded port that another process took
	// between FreePort and QEMU's start; that is retried with new ports.
	var lastErr error
	for range 3 {
		vm, err := start(opts, dir, spec, im, initrd)
		if err == nil {
			return vm, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "host forwarding") {
			break
		}
	}
	return nil, lastErr
}

func start(opts Options, dir string, spec initramfs.Spec, im *initramfs.Image, initrd string) (*VM, error) {
	vm := &VM{
		name:    opts.Name,
		opts:    opts,
		dir:     dir,
		image:   im,
		console: newConsole(),
		exited:  make(chan struct{}),
	}
	for _, g := range opts.Ports {
		h, err := FreePort()
		if err != nil {
			return nil, err
		}
		vm.forwards = append(vm.forwards, Forward{HostPort: h, GuestPort: g})
	}
	sock := filepath.Join(dir, "agent.sock")
	os.Remove(sock)
	vm.monitor = filepath.Join(dir, "monitor.sock")
	os.Remove(vm.monitor)
	m := Machine{
		Kernel:        spec.Kernel.Image,
		Initrd:        initrd,
		Append:        append(DefaultAppend(opts.Append), opts.Append...),
		Memory:        opts.Memory,
		CPUs:          opts.CPUs,
		Forwards:      vm.forwards,
		Disks:         opts.Disks,
		MonitorSocket: vm.monitor,
	}
	// The agent's port is always there: a guest whose init is not ichi
	// may start the agent itself.
	m.AgentSocket = sock
	prog, args := m.Command()
	vm.cmd = exec.Command(prog, args...)
	vm.cmd.Stderr = &vm.qemuErr
	stdout, err := vm.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// QEMU gets its own process group so that a ctrl-c meant for the test
	// binary does not race with vmtest's own kill.
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := vm.cmd.Start(); err != nil {
		return nil, fmt.Errorf("vmtest %s: start %s: %w", vm.name, prog, err)
	}
	var sink io.Writer = vm.console
	if opts.Console != nil {
		sink = io.MultiWriter(vm.console, opts.Console)
	} else if os.Getenv(EnvConsole) == "1" {
		sink = io.MultiWriter(vm.console, &prefixWriter{w: os.Stderr, prefix: vm.name + ": "})
	}
	vm.wg.Add(1)
	go vm.readConsole(stdout, sink)
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	vm.stopTimer = time.AfterFunc(timeout, vm.kill)
	conn, err := vm.dialAgent(sock)
	if err != nil {
		vm.Close()
		return nil, err
	}
	vm.agent = vmagent.NewClient(conn)
	return vm, nil
}

// readConsole copies QEMU's stdout into the console until QEMU exits, kills
// QEMU on a kernel panic, then collects QEMU's exit.
func (vm *VM) readConsole(stdout io.Reader, sink io.Writer) {
	defer vm.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := stdout.Read(buf)
		if n > 0 {
			sink.Write(buf[:n])
			if vm.console.panicked() {
				// QEMU exits by itself after the panic message
				// (panic=-1, -no-reboot); the grace lets the
				// message arrive whole if it does not.
				vm.panicOnce.Do(func() { vm.panicKill = time.AfterFunc(panicGrace, vm.kill) })
			}
		}
		if err != nil {
			break
		}
	}
	vm.exitErr = vm.cmd.Wait()
	close(vm.exited)
}

// dialAgent connects to the agent socket QEMU creates as it starts.
func (vm *VM) dialAgent(sock string) (net.Conn, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.Dial("unix", sock)
		if err == nil {
			return conn, nil
		}
		select {
		case <-vm.exited:
			return nil, vm.failure("QEMU exited before its agent socket appeared", "")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, vm.failure(fmt.Sprintf("QEMU did not create the agent socket %s within 15s: %v", sock, err), "")
		}
	}
}

// panicGrace is how long QEMU may print after a kernel panic before it is
// killed.
const panicGrace = 2 * time.Second

// kill ends QEMU at once.
func (vm *VM) kill() {
	if vm.cmd.Process != nil {
		vm.cmd.Process.Kill()
	}
}

// Close kills QEMU if it still runs and waits for everything the VM
// started. It is safe to call more than once.
func (vm *VM) Close() error {
	vm.closeOnce.Do(func() {
		vm.stopTimer.Stop()
		vm.kill()
		vm.wg.Wait()
		if vm.panicKill != nil {
			vm.panicKill.Stop()
		}
		if vm.agent != nil {
			vm.agent.Close()
		}
	})
	return nil
}

// Name returns the VM's name.
func (vm *VM) Name() string { return vm.name }

// Image returns the image the VM booted.
func (vm *VM) Image() *initramfs.Image { return vm.image }

// HostPort returns the host port forwarded to the guest's TCP port guest,
// or 0 when it is not forwarded.
func (vm *VM) HostPort(guest int) int {
	for _, f := range vm.forwards {
		if f.GuestPort == guest {
			return f.HostPort
		}
	}
	return 0
}

// Dial connects to the guest's TCP port guest through its forward. QEMU's
// user network accepts the connection on the host before the guest does:
// a guest that does not listen shows as a connection closed at once.
func (vm *VM) Dial(guest int) (net.Conn, error) {
	h := vm.HostPort(guest)
	if h == 0 {
		return nil, fmt.Errorf("vmtest %s: guest port %d is not forwarded (Options.Ports)", vm.name, guest)
	}
	return net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", h), 5*time.Second)
}

// Console returns everything the guest wrote to its console so far.
func (vm *VM) Console() string { return vm.console.String() }

// ConsoleTail returns the console's last n lines.
func (vm *VM) ConsoleTail(n int) string { return vm.console.tail(n) }

// Exited reports whether QEMU has exited.
func (vm *VM) Exited() bool {
	select {
	case <-vm.exited:
		return true
	default:
		return false
	}
}

// failure builds an error about the VM with the console's tail and, when
// not empty, extra text (a service's log tail) after it.
func (vm *VM) failure(what, extra string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "vmtest %s: %s", vm.name, what)
	if vm.console.panicked() {
		b.WriteString(" (the kernel panicked)")
	} else if vm.Exited() {
		fmt.Fprintf(&b, " (QEMU exited: %v)", vm.exitErr)
	}
	if p := vm.console.aroundPanic(10, tailLines); p != "" {
		fmt.Fprintf(&b, "\n--- console around the kernel panic ---\n%s\n", p)
	} else {
		fmt.Fprintf(&b, "\n--- console, last %d lines ---\n%s\n", tailLines, vm.console.tail(tailLines))
	}
	// QEMU's stderr is complete, and no longer written, once it exited.
	if vm.Exited() {
		if q := strings.TrimSpace(vm.qemuErr.String()); q != "" {
			fmt.Fprintf(&b, "--- QEMU's stderr ---\n%s\n", lastLines(q, tailLines))
		}
	}
	if extra != "" {
		b.WriteString(extra)
	}
	return errors.New(strings.TrimRight(b.String(), "\n"))
}

// tailLines is how many console lines a failure shows.
const tailLines = 30

// WaitConsole waits until the console shows a match of the regular
// expression pattern after the previous WaitConsole's match (as expect
// does), and returns the line holding it. It fails at once when QEMU exits
// or the kernel panics first.
func (vm *VM) WaitConsole(pattern string, timeout time.Duration) (string, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return "", fmt.Errorf("vmtest %s: WaitConsole: %w", vm.name, err)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		line, ok, changed := vm.console.match(re)
		if ok {
			return line, nil
		}
		if vm.console.panicked() {
			// Let the rest of the panic message arrive.
			select {
			case <-vm.exited:
			case <-time.After(panicGrace + time.Second):
			}
			return "", vm.failure(fmt.Sprintf("waiting for console %q", pattern), "")
		}
		select {
		case <-changed:
		case <-vm.exited:
			// Read what came last before giving up.
			if line, ok, _ := vm.console.match(re); ok {
				return line, nil
			}
			return "", vm.failure(fmt.Sprintf("waiting for console %q: QEMU exited", pattern), "")
		case <-deadline.C:
			return "", vm.failure(fmt.Sprintf("waiting for console %q: timed out after %v", pattern, timeout), "")
		}
	}
}

// prefixWriter writes each line with a prefix.
type prefixWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  string
	partial []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	last := bytes.LastIndexByte(p.partial, '\n')
	if last < 0 {
		return len(b), nil
	}
	sc := bufio.NewScanner(bytes.NewReader(p.partial[:last+1]))
	for sc.Scan() {
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, strings.TrimRight(sc.Text(), "\r"))
	}
	p.partial = append(p.partial[:0], p.partial[last+1:]...)
	return len(b), nil
}

// context returns a context that ends after timeout or when QEMU exits.
// Its goroutine ends with the context, which the caller's cancel ends.
func (vm *VM) context(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	go func() {
		select {
		case <-vm.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
