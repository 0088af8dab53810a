// Package machine is ichi as PID 1 of a machine: it boots (early mounts,
// its own threads' timer slack, console, kernel command line, kernel
// modules and coldplug, /etc/fstab, host name, network, whose DHCP
// exchange runs during the fstab's mounts), supervises the service
// directory, waits for a signal asking for the end, and shuts down in the
// order that loses nothing.
//
// PID 1 must never exit and never panic (the kernel would panic): every
// step's failure is printed and the boot goes on; a panic in the boot is
// caught and ends in an emergency shell on the console (/bin/sh), or, when
// there is none, in waiting for a halt, poweroff or reboot signal while
// still reaping.
package machine

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ichi-init/ichi/internal/boot/cmdline"
	"github.com/ichi-init/ichi/internal/boot/mount"
	"github.com/ichi-init/ichi/internal/boot/power"
	"github.com/ichi-init/ichi/internal/boot/shutdown"
	"github.com/ichi-init/ichi/internal/kmod"
	"github.com/ichi-init/ichi/internal/netconf"
	"github.com/ichi-init/ichi/internal/reaper"
	"github.com/ichi-init/ichi/internal/timerslack"
	"golang.org/x/sys/unix"
)

// Paths the machine reads.
const (
	Fstab        = "/etc/fstab"
	HostnameFile = "/etc/hostname"
	SysBus       = "/sys/bus"
	SysCPU       = "/sys/bus/cpu/devices/cpu0"
	Console      = "/dev/console"
	Shell        = "/bin/sh"
	Proc         = "/proc"
)

// TimerSlack is the timer slack of init's own threads (see package
// timerslack); its children start with the slack the kernel gave init.
// Booting the mail appliance in a one-processor TCG guest, it brought the
// time from the kernel's start of /init to the SMTP server's start down by
// 32 ms (1 ms: 38 ms; medians of 8 alternated pairs), and 4 ms beat 1 ms
// in 5 further pairs.
const TimerSlack = 4 * time.Millisecond

// machine is the state of one run of PID 1.
type machine struct {
	signals <-chan os.Signal
	outMu   sync.Mutex // guards out: logf is called from many goroutines
	out     io.Writer
	reaper  *reaper.Reaper
	cl      *cmdline.Cmdline
	kmod    *kmod.Loader // nil when the image has no modules
	fstab   []mount.Entry
	// fsModules is closed when the fstab's file system modules, loaded
	// beside the devices' on a machine with more than one processor,
	// are in; nil when they are not loaded ahead.
	fsModules chan struct{}
	// childSlack is the timer slack the kernel gave init, which its
	// children get; zero when init's own was not raised.
	childSlack time.Duration
	dhcp       *netconf.DHCPClient
	start      StartSupervisor
	sup        Supervisor
}

// NewMain returns the machine role's entry point (for cmd/init), which
// supervises the service directory with start; nil means that this build
// has no supervision, and the machine runs no services. The entry point
// gets every signal init handles on signals. It does not return while the
// machine runs; it returns only if reboot(2) itself fails and no further
// signal comes.
func NewMain(start StartSupervisor) func(args []string, signals <-chan os.Signal) int {
	return func(args []string, signals <-chan os.Signal) int {
		m := &machine{signals: signals, out: os.Stdout, start: start}
		m.logf("ichi: booting as PID %d, %s after the kernel started", os.Getpid(), sinceBoot())
		if !m.guard("boot", m.boot) {
			m.emergency()
		}
		m.run()
		return 111
	}
}

func (m *machine) logf(format string, args ...any) {
	fmt.Fprintf(m.output(), format+"\n", args...)
}

// output is where init's messages go: the console, then the catch-all once
// the scanner runs.
func (m *machine) output() io.Writer {
	m.outMu.Lock()
	defer m.outMu.Unlock()
	return m.out
}

func (m *machine) debugf(format string, args ...any) {
	if m.debugging() {
		m.logf(format, args...)
	}
}

// debugging reports whether the kernel command line asked for ichi.debug.
func (m *machine) debugging() bool { return m.cl != nil && m.cl.Debug }

// warn prints every error of a joined error on its own line.
func (m *machine) warn(step string, err error) {
	if err == nil {
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		m.logf("ichi: warning: %s: %s", step, line)
	}
}

// guard runs fn and turns a panic into a printed stack and false.
func (m *machine) guard(what string, fn func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			m.logf("ichi: fatal: %s: panic: %v\n%s", what, r, debug.Stack())
			ok = false
		}
	}()
	fn()
	return true
}

// step runs one boot step and prints how long it took in debug mode.
func (m *machine) step(name string, fn func() error) {
	t, cpu := time.Now(), userCPU()
	err := fn()
	m.warn(name, err)
	if m.debugging() { // the figures cost system calls: only for the log
		m.logf("ichi: %s (%v, %v of init's user CPU, done %s after the kernel started)", name,
			time.Since(t).Round(time.Microsecond), userCPU()-cpu, sinceBoot())
	}
}

// userCPU is the processor time init has spent in user mode (every thread),
// as the kernel counts it: in ticks, so a short step may show none.
func userCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano())
}

// errOrOK is err, or "ok" when it is nil, for the debug log.
func errOrOK(err error) any {
	if err == nil {
		return "ok"
	}
	return err
}

// sinceBoot is the time since the kernel started (CLOCK_BOOTTIME), for the
// debug log's boot timeline; "?" when the clock cannot be read.
func sinceBoot() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return "?"
	}
	return time.Duration(ts.Nano()).Round(time.Millisecond).String()
}

func (m *machine) boot() {
	m.step("early mounts", func() error {
		_, err := mount.MountEarly("/", mount.EarlyMounts)
		return err
	})
	m.step("timer slack", m.raiseTimerSlack)
	m.step("console", func() error { return mount.AttachConsole(Console) })
	m.startReaper()
	// Ctrl-alt-del becomes SIGINT to init instead of an instant reboot.
	m.step("ctrl-alt-del", func() error { return unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF) })
	m.step("kernel command line", func() (err error) {
		m.cl, err = cmdline.Read()
		return err
	})
	m.fstab = readFstab(Fstab)
	m.step("kernel modules", m.modules)
	var ip netconf.IPParam
	m.step("ip=", func() (err error) {
		ip, err = netconf.ParseIP(m.cl.IP)
		return err
	})
	// The DHCP exchange runs while the file systems are loaded and
	// mounted, so that waiting for the server and waiting for the disk
	// overlap, unless a mount could hide the resolv.conf the lease writes.
	if ip.Method == netconf.DHCP && !covers(m.fstab, netconf.ResolvConf) {
		m.step("dhcp start", func() error { return m.startDHCP(ip) })
	}
	m.step("fstab", func() error {
		if m.fsModules != nil {
			<-m.fsModules
		} else {
			m.loadFilesystems(m.fstab)
		}
		mounted, err := mount.MountFstab(Fstab)
		if len(mounted) > 0 {
			m.logf("ichi: mounted %s", strings.Join(mounted, " "))
		}
		return err
	})
	m.step("hostname", func() error { return setHostname(m.cl.Hostname, ip.Hostname, HostnameFile, m.logf) })
	m.step("network", func() error { return m.network(ip) })
	m.step("supervision", func() (err error) {
		if m.start == nil {
			return fmt.Errorf("this build has no service scanner: %s is not supervised", m.cl.ServiceDir)
		}
		m.sup, err = m.start(m.reaper, m.cl.ServiceDir, m.output(), m.logf)
		if ca, ok := m.sup.(interface{ CatchAll() io.Writer }); ok && err == nil {
			// From now on init's own messages go through the catch-all:
			// to the console and into its log.
			m.outMu.Lock()
			m.out = ca.CatchAll()
			m.outMu.Unlock()
		}
		return err
	})
}

// raiseTimerSlack gives every thread of init TimerSlack, and keeps the
// slack it had for its children. A slack already larger is left alone.
func (m *machine) raiseTimerSlack() error {
	// Any thread answers: they all still have the slack init started with.
	own, err := timerslack.Thread()
	if err != nil || own >= TimerSlack {
		return err
	}
	m.childSlack = own // from here on, whatever SetProcess manages
	return timerslack.SetProcess(Proc, TimerSlack)
}

// startReaper starts the reaper, which forks init's children with the
// slack the kernel gave init.
func (m *machine) startReaper() {
	m.reaper = reaper.Start(reaper.Options{ChildTimerSlack: m.childSlack})
}

func (m *machine) modules() error {
	dir, err := kmod.DefaultDir()
	if err != nil {
		return err
	}
	mods, lerr := kmod.ReadModulesLoad(kmod.ModulesLoadDirs)
	mods = append(m.cl.ModulesLoad, mods...)
	if _, err := os.Stat(dir); os.IsNotExist(err) && len(mods) == 0 {
		m.debugf("ichi: no %s: no modules", dir)
		return lerr
	}
	ix, err := kmod.Load(dir)
	if err != nil {
		return err
	}
	l := &kmod.Loader{Index: ix}
	l.CPU, _ = kmod.DeviceModalias(SysCPU)
	if m.debugging() {
		l.Trace = func(name string, took time.Duration, err error) {
			m.logf("ichi: module %s (%v): %v", name, took.Round(time.Microsecond), errOrOK(err))
		}
	}
	m.kmod = l
	if runtime.NumCPU() > 1 && len(m.fstab) > 0 {
		// Loading a module is the kernel's work on the caller's
		// processor: with two, the file systems' modules (ext4 and
		// what it needs, a third of a second in a TCG guest) load
		// while the devices' do. With one, they would only take
		// turns, and the DHCP exchange, which starts after the
		// devices' modules, would overlap less of the fstab step.
		m.fsModules = make(chan struct{})
		go func() {
			defer close(m.fsModules)
			m.guard("file system modules", func() { m.loadFilesystems(m.fstab) })
		}()
	}
	errs := []error{lerr, l.LoadAll(mods)}
	if m.cl.Coldplug {
		loaded, err := l.Coldplug(SysBus, 5)
		if len(loaded) > 0 {
			m.logf("ichi: coldplug: %s", strings.Join(loaded, " "))
		}
		errs = append(errs, err)
	}
	return joinErrs(errs)
}

// readFstab returns the entries of the fstab at path that are mounted at
// boot (not noauto, not swap); problems are for MountFstab to report.
func readFstab(path string) []mount.Entry {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	entries, _ := mount.ParseFstab(f)
	var out []mount.Entry
	for _, e := range entries {
		if !e.Options.NoAuto && e.VfsType != "swap" {
			out = append(out, e)
		}
	}
	return out
}

// covers reports whether one of the entries mounts on file or a directory
// above it.
func covers(entries []mount.Entry, file string) bool {
	for _, e := range entries {
		dir := filepath.Clean(e.File)
		if dir == "/" || file == dir || strings.HasPrefix(file, dir+"/") {
			return true
		}
	}
	return false
}

// loadFilesystems loads the modules of the entries' file system types,
// with their soft dependencies, before they are mounted: left to the
// kernel, each would cost a modprobe helper process. A module that fails
// to load is logged; the mount then says what is wrong.
func (m *machine) loadFilesystems(entries []mount.Entry) {
	if m.kmod == nil {
		return
	}
	for _, e := range entries {
		if err := m.kmod.LoadFilesystem(e.VfsType); err != nil {
			m.logf("ichi: %s: %v", e, err)
		}
	}
}

// startDHCP starts the DHCP client of ip= (a DHCP method) and then brings
// the loopback up, so that the client's goroutine goes to work on the
// network card while the kernel sets lo up (10-17 ms of a TCG guest's
// boot). In that order the boot reached supervision 10-15 ms sooner, on
// one processor as on two. network waits for the client's first lease.
func (m *machine) startDHCP(ip netconf.IPParam) error {
	m.dhcp = netconf.StartDHCP(netconf.DHCPOptions{
		Device: ip.Device, LinkWait: 5 * time.Second, Hostname: ip.Hostname,
		Logf: func(f string, a ...any) { m.logf("ichi: "+f, a...) },
	})
	return netconf.LoopbackUp()
}

// network configures the network of ip= (its DHCP client may have been
// started before fstab) and waits for a first DHCP lease, up to the
// kernel command line's timeout.
func (m *machine) network(ip netconf.IPParam) error {
	if m.dhcp == nil && ip.Method == netconf.DHCP {
		loErr := m.startDHCP(ip) // the client, then the loopback
		return joinErrs([]error{loErr, m.waitDHCP()})
	}
	if m.dhcp != nil {
		return m.waitDHCP()
	}
	if err := netconf.LoopbackUp(); err != nil {
		return err
	}
	if ip.Method == netconf.Static {
		a, err := netconf.ApplyStatic(ip, netconf.ResolvConf, 5*time.Second)
		if err == nil {
			m.logf("ichi: network: %s", a)
		}
		return err
	}
	return nil
}

// waitDHCP waits for the DHCP client's first lease, up to the kernel
// command line's timeout.
func (m *machine) waitDHCP() error {
	ctx, cancel := context.WithTimeout(context.Background(), m.cl.DHCPTimeout)
	defer cancel()
	if _, err := m.dhcp.WaitBound(ctx); err != nil {
		return fmt.Errorf("%w (boot goes on; the client keeps trying)", err)
	}
	return nil
}

// run waits for signals: SIGHUP rescans the services, the power signals
// shut down. It never returns unless reboot(2) fails and then no signal
// comes at all.
func (m *machine) run() {
	for sig := range m.signals {
		s, ok := sig.(syscall.Signal)
		if !ok {
			continue
		}
		if s == syscall.SIGHUP && m.sup != nil {
			m.sup.Rescan()
			continue
		}
		action, ok := power.ForSignal(s)
		if !ok {
			m.debugf("ichi: signal %v ignored", s)
			continue
		}
		m.guard("shutdown", func() { m.shutdown(action) })
		m.logf("ichi: reboot(2) failed; send another signal to try again")
	}
}

func (m *machine) shutdown(action power.Action) {
	timeout := cmdline.DefaultShutdownTimeout
	if m.cl != nil {
		timeout = m.cl.ShutdownTimeout
	}
	if m.dhcp != nil {
		m.dhcp.Stop()
		m.dhcp = nil
	}
	steps := shutdown.Steps{ServiceTimeout: timeout, KillTimeout: timeout, Console: m.output()}
	if m.sup != nil {
		steps.StopServices = m.sup.StopServices
		steps.DrainLoggers = m.sup.DrainLoggers
	}
	if err := shutdown.Run(steps, action); err != nil {
		m.logf("ichi: reboot(2) %s: %v", action, err)
	}
}

// emergency starts a shell on the console after a fatal boot error and
// waits for it; without a shell, it returns at once to wait for a signal.
func (m *machine) emergency() {
	if m.reaper == nil {
		m.startReaper()
	}
	con, err := os.OpenFile(Console, os.O_RDWR, 0)
	if err != nil {
		m.logf("ichi: no console for an emergency shell (%v); waiting for halt, poweroff or reboot", err)
		return
	}
	defer con.Close()
	if _, err := os.Stat(Shell); err != nil {
		m.logf("ichi: no %s for an emergency shell; waiting for halt, poweroff or reboot", Shell)
		return
	}
	m.logf("ichi: starting an emergency shell; when it exits, init waits for halt, poweroff or reboot")
	c, err := m.reaper.Spawn(reaper.Cmd{Path: Shell, Args: []string{"sh"}, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "TERM=linux"},
		Dir: "/", Files: []*os.File{con, con, con}, Setsid: true, Setctty: true, Ctty: 0})
	if err != nil {
		m.logf("ichi: emergency shell: %v", err)
		return
	}
	<-c.Done()
}

func joinErrs(errs []error) error {
	var parts []string
	for _, e := range errs {
		if e != nil {
			parts = append(parts, e.Error())
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(parts, "\n"))
}
