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
// It uses the interface flag ioctls, not netlink: at boot it runs before
// anything else of the network, and in a TCG guest the first netlink
// request through the netlink package (its sockets, its request and its
// parsing of a link, each run for the first time) took 27 ms where the
// ioctls take one.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netconf: lo: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("netconf: lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("netconf: lo: %w", err)
	}
	flags := ifr.Uint16()
	if flags&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(flags | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("netconf: lo: set up: %w", err)
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

func findLink(name string) (netlink.Link, error) {
	if name != "" {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return nil, fmt.Errorf("netconf: interface %s: %w", name, err)
		}
		return l, nil
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("netconf: list interfaces: %w", err)
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Attrs().Index < links[j].Attrs().Index })
	for _, l := range links {
		if l.Attrs().Flags&net.FlagLoopback == 0 {
			return l, nil
		}
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
