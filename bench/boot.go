package main

// The boot benchmark (issue 8): how long the mail appliance takes from QEMU's
// start to the SMTP banner on the host's forwarded port, booted by ichi and,
// on the same kernel with the same services and the same disk, by busybox
// init running runit's runsvdir — the classic small-appliance stack. Each
// init boots bootRuns times, alternately, under TCG; the medians compare.
//
// Three machines: QEMU's default one (what make run and vmtest boot, one
// processor), the same with a virtio RNG, and the same with two processors
// (multi-threaded TCG, one host thread each). The RNG machine was added when
// ichi's DHCP client waited for the kernel's random generator (about a
// second of a TCG boot without a hardware source); it no longer does, and
// the machine stays as one more device: ichi's coldplug loads its driver,
// busybox init's fixed modprobe list does not. With two processors ichi
// loads the file system's modules beside the devices'; busybox init runs
// its sysinit lines one after the other either way.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ichi-init/ichi/initramfs"
	"github.com/ichi-init/ichi/vmtest"
)

func init() {
	register(Benchmark{Name: "boot", Issue: 8, Run: benchBoot})
}

// bootRuns is how many times each init boots the appliance.
const bootRuns = 5

// mailDir is the demo appliance, relative to the source tree's root.
const mailDir = "appliance/mail"

// bootInittab is busybox init's whole boot of the appliance: what ichi's
// machine role does (mounts, modules, network by DHCP, fstab, host name),
// then runsvdir on /service.
const bootInittab = `::sysinit:/bin/mount -t proc proc /proc
::sysinit:/bin/mount -t sysfs sysfs /sys
::sysinit:/bin/mount -t devtmpfs devtmpfs /dev
::sysinit:/sbin/modprobe -a virtio_pci virtio_net virtio_blk crc32c_generic ext4
::sysinit:/sbin/ip link set lo up
::sysinit:/sbin/udhcpc -b -i eth0 -t 10 -T 1 -s /etc/udhcpc.script
::sysinit:/bin/mount -a
::sysinit:/bin/hostname -F /etc/hostname
::respawn:/usr/bin/runsvdir -P /service
::ctrlaltdel:/sbin/reboot
`

// udhcpcScript configures the address and route udhcpc got.
const udhcpcScript = `#!/bin/sh
case "$1" in
deconfig) ip link set "$interface" up; ip -4 addr flush dev "$interface" ;;
bound|renew)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	[ -n "$router" ] && ip route replace default via "${router%% *}" ;;
esac
exit 0
`

// smtpdLogRun is the runit image's logger for the SMTP service: an external
// multilog process (daemontools' own) with the script of the appliance's
// in-process log/multilog.
const smtpdLogRun = "#!/bin/sh\nexec multilog t s1000000 n10 /data/log/smtpd\n"

// mailSpec is the mail appliance's image without its init: its service and
// root files, tcpserver and exim, the kernel's virtio and ext4 modules.
func mailSpec() (initramfs.Spec, error) {
	k, err := vmtest.FindKernel()
	if err != nil {
		return initramfs.Spec{}, err
	}
	exim := filepath.Join(".cache", "exim", "root", "usr", "sbin", "exim4")
	if _, err := os.Stat(exim); err != nil {
		return initramfs.Spec{}, fmt.Errorf("%w (make deps fetches exim)", err)
	}
	return initramfs.Spec{
		Busybox: vmtest.DefaultBusybox,
		Kernel:  k,
		// virtio_rng serves the machine with a virtio RNG.
		Modules: append(vmtest.DefaultModules[:len(vmtest.DefaultModules):len(vmtest.DefaultModules)], "virtio_rng"),
		Programs: []initramfs.Program{
			{Src: "/usr/bin/tcpserver"},
			{Src: exim, Dst: "/usr/sbin/exim4"},
		},
		Services: []initramfs.Service{{Name: "smtpd", Dir: filepath.Join(mailDir, "service", "smtpd")}},
		Files:    []initramfs.File{{Src: filepath.Join(mailDir, "rootfs"), Dst: "/"}},
	}, nil
}

// bootImage is one init's image of the appliance and its kernel words.
type bootImage struct {
	name   string
	initrd string
	append []string
}

func bootImages(ctx *Context) (kernel string, images []bootImage, err error) {
	spec, err := mailSpec()
	if err != nil {
		return "", nil, err
	}
	kernel = spec.Kernel.Image

	ichi := spec
	ichi.Init = ctx.Ichi
	// ip=dhcp: ichi's network step, as ichi-vm and vmtest boot it.
	images = append(images, bootImage{name: "ichi", append: vmtest.DefaultAppend(nil)})

	runit := spec
	runit.Programs = append(runit.Programs[:len(runit.Programs):len(runit.Programs)],
		initramfs.Program{Src: "/usr/bin/runsvdir"},
		initramfs.Program{Src: "/usr/bin/runsv"},
		initramfs.Program{Src: "/usr/bin/multilog"})
	runit.Services = []initramfs.Service{{Name: "smtpd", Dir: spec.Services[0].Dir, LogRun: smtpdLogRun}}
	runit.Files = append(runit.Files[:len(runit.Files):len(runit.Files)],
		initramfs.File{Dst: "/sbin/init", Link: "/bin/busybox"},
		initramfs.File{Dst: "/etc/inittab", Data: []byte(bootInittab)},
		initramfs.File{Dst: "/etc/udhcpc.script", Data: []byte(udhcpcScript), Mode: 0o755})
	images = append(images, bootImage{name: "busybox init + runit", append: []string{"rdinit=/sbin/init"}})

	for i, s := range []initramfs.Spec{ichi, runit} {
		im, err := initramfs.Build(s)
		if err != nil {
			return "", nil, fmt.Errorf("%s image: %w", images[i].name, err)
		}
		images[i].initrd = filepath.Join(ctx.Work, fmt.Sprintf("initrd-%d.cpio.lz4", i))
		if err := im.WriteFile(images[i].initrd); err != nil {
			return "", nil, err
		}
	}
	return kernel, images, nil
}

func benchBoot(ctx *Context) ([]Result, error) {
	kernel, images, err := bootImages(ctx)
	if err != nil {
		return nil, err
	}
	// Every boot starts from the same fresh disk, made from the
	// appliance's disk/ as make run makes it.
	template := filepath.Join(ctx.Work, "template.img")
	if err := vmtest.MakeDisk(template, "64M", filepath.Join(mailDir, "disk")); err != nil {
		return nil, err
	}
	var res []Result
	for _, machine := range []struct {
		metric string
		rng    bool
		cpus   int
	}{
		{"QEMU start to SMTP banner", false, 1},
		{"the same, with a virtio RNG", true, 1},
		{"the same, with 2 processors", false, 2},
	} {
		times := map[string][]time.Duration{}
		for run := range bootRuns {
			for _, im := range images {
				disk := filepath.Join(ctx.Work, "data.img")
				if err := copyFile(template, disk); err != nil {
					return nil, err
				}
				d, err := bootToBanner(kernel, im, disk, machine.rng, machine.cpus, filepath.Join(ctx.Work, "console.txt"))
				if err != nil {
					return nil, fmt.Errorf("%s (%s), boot %d: %w", im.name, machine.metric, run+1, err)
				}
				fmt.Fprintf(ctx.Log, "boot: %s: %s: %v\n", machine.metric, im.name, d.Round(time.Millisecond))
				times[im.name] = append(times[im.name], d)
			}
		}
		for _, im := range images {
			ds := times[im.name]
			var lo, hi time.Duration = ds[0], ds[0]
			for _, d := range ds {
				lo, hi = min(lo, d), max(hi, d)
			}
			res = append(res, Result{Metric: machine.metric, Program: im.name, Value: ms(median(ds)), Unit: "ms", Better: Lower,
				Note: fmt.Sprintf("median of %d TCG boots (%.0f-%.0f ms), same kernel, services and disk", len(ds), ms(lo), ms(hi))})
		}
	}
	return res, nil
}

// bootToBanner boots the image on disk (with a virtio RNG when rng is set,
// on cpus processors) and returns the time from QEMU's start to the SMTP
// banner read through the forwarded port; then it kills QEMU. The console
// goes to consoleFile, for a failure's message.
func bootToBanner(kernel string, im bootImage, disk string, rng bool, cpus int, consoleFile string) (time.Duration, error) {
	port, err := vmtest.FreePort()
	if err != nil {
		return 0, err
	}
	m := vmtest.Machine{
		Kernel: kernel, Initrd: im.initrd, Append: im.append,
		Forwards: []vmtest.Forward{{HostPort: port, GuestPort: 25}},
		Disks:    []string{disk},
		CPUs:     cpus,
	}
	console, err := os.Create(consoleFile)
	if err != nil {
		return 0, err
	}
	defer console.Close()
	prog, args := m.Command()
	if rng {
		args = append(args, "-device", "virtio-rng-pci")
	}
	cmd := exec.Command(prog, args...)
	cmd.Stdout, cmd.Stderr = console, console
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := newProber(addr)
	defer p.stop()
	timeout := time.NewTimer(3 * time.Minute)
	defer timeout.Stop()
	select {
	case at := <-p.banner:
		return at.Sub(start), nil
	case err := <-exited:
		exited <- err
		return 0, fmt.Errorf("QEMU exited (%v) before the banner\n%s", err, consoleTail(consoleFile))
	case <-timeout.C:
		return 0, fmt.Errorf("no SMTP banner on %s after 3 minutes\n%s", addr, consoleTail(consoleFile))
	}
}

// prober connects to the forwarded port again and again until one
// connection reads the SMTP greeting. QEMU's user network accepts each
// connection on the host at once and then tries the guest: a guest without
// an address yet does not answer, and QEMU retries with growing pauses,
// seconds long, so no single connection can be waited for; a guest that has
// its address but does not listen yet refuses, and QEMU closes the
// connection. So the prober works in two phases:
//
//   - Until the guest refuses a connection, a new one starts every
//     probeEvery.
//   - From the first refusal on, the guest answers at once: one connection
//     at a time, the next starting probeRetry after the last was refused.
//     The first one the server accepts waits for its greeting alone.
//
// The second phase is what makes the measure the server's and not the
// prober's. Probing every probeEvery to the end had tcpserver start a new
// exim for each connection made while the first exim started; on one
// processor they shared it, each slowing the first greeting and letting
// more connections in, so a few milliseconds more work after the listen
// came out as a hundred more at the banner, and the spread of five boots
// was a few hundred.
//
// A connection is never given up while QEMU holds it open (it may still
// reach the server; closed half-way, it would leave an SMTP session waiting
// for its timeout and, twenty of them, tcpserver at its connection limit);
// it is closed once it has read its first line.
type prober struct {
	addr   string
	banner chan time.Time // the time of the first greeting
	quit   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

const (
	probeEvery = 50 * time.Millisecond
	probeRetry = 5 * time.Millisecond
	probeMax   = 1000
)

// probeResult is how a probe ended.
type probeResult int

const (
	probeNoGreeting probeResult = iota // no connection, the prober stopped, or a line other than the greeting
	probeRefused                       // QEMU closed the connection before a line: the guest refused it
	probeGreeted                       // the greeting came
)

func newProber(addr string) *prober {
	p := &prober{addr: addr, banner: make(chan time.Time, 1), quit: make(chan struct{}), conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.launch()
	return p
}

// launch starts the probes: one every probeEvery, while fewer than probeMax
// are open, until one is refused; then one at a time until one is greeted.
func (p *prober) launch() {
	defer p.wg.Done()
	refused := make(chan struct{}, 1)
	slots := make(chan struct{}, probeMax)
	t := time.NewTicker(probeEvery)
	defer t.Stop()
periodic:
	for {
		select {
		case slots <- struct{}{}:
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer func() { <-slots }()
				if p.probe() == probeRefused {
					select {
					case refused <- struct{}{}:
					default:
					}
				}
			}()
		default:
		}
		select {
		case <-p.quit:
			return
		case <-refused:
			break periodic
		case <-t.C:
		}
	}
	for p.probe() != probeGreeted {
		select {
		case <-p.quit:
			return
		case <-time.After(probeRetry):
		}
	}
}

// probe makes one connection, reports the time its first line arrived when
// that line is the SMTP greeting, and returns how it ended.
func (p *prober) probe() probeResult {
	c, err := net.DialTimeout("tcp", p.addr, time.Second)
	if err != nil {
		return probeNoGreeting
	}
	p.mu.Lock()
	select {
	case <-p.quit:
		p.mu.Unlock()
		c.Close()
		return probeNoGreeting
	default:
	}
	p.conns[c] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
	}()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		select {
		case <-p.quit:
			return probeNoGreeting
		default:
			return probeRefused
		}
	}
	if !strings.HasPrefix(line, "220 ") {
		return probeNoGreeting
	}
	select {
	case p.banner <- time.Now():
	default:
	}
	return probeGreeted
}

// stop ends every probe and waits for them.
func (p *prober) stop() {
	p.mu.Lock()
	close(p.quit)
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func consoleTail(file string) string {
	b, _ := os.ReadFile(file)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-25):], "\n")
}

func copyFile(src, dst string) error {
	out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cp %s %s: %v: %s", src, dst, err, out)
	}
	return nil
}
