package vmtest

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/ichi-init/ichi/internal/vmagent"
)

// DefaultQEMU is the emulator vmtest runs.
const DefaultQEMU = "qemu-system-x86_64"

// BaseAppend is the start of every guest's kernel command line: the console
// on the first serial port, reboot at once on a panic (QEMU's -no-reboot
// turns that into an exit), few kernel messages.
var BaseAppend = []string{"console=ttyS0", "panic=-1", "quiet"}

// Forward is one TCP port forwarded from the host's loopback to the guest.
type Forward struct {
	HostPort, GuestPort int
}

// ParseForward reads "HOST:GUEST" (or "GUEST", forwarded from the same
// port number on the host).
func ParseForward(s string) (Forward, error) {
	h, g, ok := strings.Cut(s, ":")
	if !ok {
		h, g = s, s
	}
	var f Forward
	if _, err := fmt.Sscanf(h, "%d", &f.HostPort); err != nil || f.HostPort <= 0 || f.HostPort > 65535 {
		return Forward{}, fmt.Errorf("vmtest: bad host port in %q", s)
	}
	if _, err := fmt.Sscanf(g, "%d", &f.GuestPort); err != nil || f.GuestPort <= 0 || f.GuestPort > 65535 {
		return Forward{}, fmt.Errorf("vmtest: bad guest port in %q", s)
	}
	return f, nil
}

// Machine is a QEMU command line: TCG (never KVM), a serial console, user
// networking with forwarded ports on a virtio card, and optionally the
// agent's virtio serial port.
type Machine struct {
	// QEMU is the emulator; empty means DefaultQEMU.
	QEMU string
	// Kernel and Initrd are the files QEMU boots.
	Kernel, Initrd string
	// Append are the kernel command line's words after BaseAppend.
	Append []string
	// Memory is QEMU's -m; empty means 256M.
	Memory string
	// CPUs is QEMU's -smp, processors run side by side by multi-threaded
	// TCG; zero means 1.
	CPUs int
	// Forwards are the TCP ports forwarded to the guest.
	Forwards []Forward
	// AgentSocket, when set, is the Unix socket QEMU listens on for the
	// guest agent's virtio serial port (named vmagent.PortName).
	AgentSocket string
	// Disks are raw disk images attached as virtio disks, in order:
	// /dev/vda, /dev/vdb, ...
	Disks []string
	// MonitorSocket, when set, is the Unix socket QEMU listens on for its
	// human monitor (sendkey, system_powerdown, ...).
	MonitorSocket string
	// Interactive puts the console and QEMU's monitor on the terminal
	// (ctrl-a x quits) instead of a plain stdio console.
	Interactive bool
}

// Command returns the program and arguments that run the machine.
func (m Machine) Command() (string, []string) {
	q := m.QEMU
	if q == "" {
		q = DefaultQEMU
	}
	mem := m.Memory
	if mem == "" {
		mem = "256M"
	}
	cpus := max(m.CPUs, 1)
	serial := "stdio"
	if m.Interactive {
		serial = "mon:stdio"
	}
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-accel", "tcg", "-m", mem, "-smp", strconv.Itoa(cpus),
		"-kernel", m.Kernel, "-initrd", m.Initrd,
		"-append", strings.Join(append(append([]string(nil), BaseAppend...), m.Append...), " "),
		"-serial", serial,
	}
	net := "user,id=net0"
	for _, f := range m.Forwards {
		net += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", f.HostPort, f.GuestPort)
	}
	args = append(args, "-netdev", net, "-device", "virtio-net-pci,netdev=net0")
	for _, d := range m.Disks {
		args = append(args, "-drive", "file="+d+",if=virtio,format=raw")
	}
	if m.MonitorSocket != "" {
		args = append(args, "-monitor", "unix:"+m.MonitorSocket+",server=on,wait=off")
	}
	if m.AgentSocket != "" {
		args = append(args,
			"-device", "virtio-serial-pci",
			"-chardev", "socket,id=agent,path="+m.AgentSocket+",server=on,wait=off",
			"-device", "virtserialport,chardev=agent,name="+vmagent.PortName)
	}
	return q, args
}

// FreePort returns a TCP port free on the host's loopback right now. (It
// may be taken again before QEMU binds it; Start retries when that
// happens.)
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("vmtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DefaultAppend returns the kernel command line words vmtest and ichi-vm
// add to words: "ip=dhcp", so that ichi configures the network card from
// QEMU's DHCP server (the guest gets 10.0.2.15), unless words already has
// an ip= word or boots another init (rdinit=).
func DefaultAppend(words []string) []string {
	for _, w := range words {
		if strings.HasPrefix(w, "ip=") || strings.HasPrefix(w, "rdinit=") {
			return nil
		}
	}
	return []string{"ip=dhcp"}
}
