package netconf

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LoopbackUp sets lo up; the kernel gives it 127.0.0.1/8 and ::1 itself.
func LoopbackUp() error { return SetUp("lo") }

// SetUp sets the interface called name up. It uses the interface flag
// ioctls, not netlink, as FindLink uses the standard library's interface
// list: code that runs for the first time is what a TCG guest's boot
// spends most on, and setting lo up through the netlink package (its
// sockets, its request and its parsing of a link, run for the first time)
// took 27-32 ms there, the ioctls 15 ms, most of it the kernel's own work
// of bringing lo up. The netlink package is left to the addresses and
// routes.
func SetUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netconf: %s: socket: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("netconf: %s: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("netconf: %s: %w", name, err)
	}
	flags := ifr.Uint16()
	if flags&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(flags | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("netconf: %s: set up: %w", name, err)
	}
	return nil
}

// FindLink returns the interface called name, or, when name is empty, the
// first interface (lowest index) that is not loopback. A network card whose
// driver was just loaded may register its interface a moment later, so it
// keeps looking until wait has passed.
func FindLink(name string, wait time.Duration) (netlink.Link, error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := findLink(name)
		if err == nil || time.Now().After(deadline) {
			return l, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// findLink looks name up, or the first interface that is not loopback,
// in the standard library's interface list, and returns it as the netlink
// package's link for the address and route calls: with its index, which
// they use, and its name, for messages.
func findLink(name string) (netlink.Link, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("netconf: list interfaces: %w", err)
	}
	sort.Slice(ifs, func(i, j int) bool { return ifs[i].Index < ifs[j].Index })
	for _, ifc := range ifs {
		if name == "" && ifc.Flags&net.FlagLoopback == 0 || name != "" && ifc.Name == name {
			return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifc.Index, Name: ifc.Name}}, nil
		}
	}
	if name != "" {
		return nil, fmt.Errorf("netconf: interface %s: no such interface", name)
	}
	return nil, fmt.Errorf("netconf: no network interface besides loopback")
}

// ipnet converts a prefix whose address is the host's to the form netlink
// takes.
func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// setDefaultRoute replaces the default route with one via gw on link.
func setDefaultRoute(link netlink.Link, gw netip.Addr) error {
	r := &netlink.Route{
		LinkIndex: link.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        gw.AsSlice(),
	}
	if err := netlink.RouteReplace(r); err != nil {
		return fmt.Errorf("netconf: %s: default route via %s: %w", link.Attrs().Name, gw, err)
	}
	return nil
}
