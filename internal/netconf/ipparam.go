package netconf

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Method is how an interface gets its address.
type Method int

const (
	// Off leaves the network alone (ip=off, ip=none, or no ip=).
	Off Method = iota
	// Static sets the address, route and name servers given on the line.
	Static
	// DHCP asks a DHCPv4 server.
	DHCP
)

func (m Method) String() string {
	switch m {
	case Static:
		return "static"
	case DHCP:
		return "dhcp"
	}
	return "off"
}

// IPParam is a parsed ip= kernel parameter, in the kernel's nfsroot syntax:
//
//	ip=<client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>:<dns0-ip>:<dns1-ip>:<ntp0-ip>
//
// or one word: ip=dhcp (also on, any, both), ip=off (also none).
//
// As the kernel reads it: fields may be empty or left off at the end; a
// client address makes the configuration static whatever <autoconf> says;
// without one, <autoconf> chooses (dhcp, on, any, both: DHCP; off, none:
// nothing; empty: DHCP). BOOTP and RARP are not supported and give an
// error. A missing netmask is the address's class mask (A: /8, B: /16,
// C: /24), as the kernel derives it. A missing device means the first
// interface that is not loopback.
type IPParam struct {
	Method   Method
	Client   netip.Addr // Static only
	Server   netip.Addr // the NFS server: parsed, not used by ichi
	Gateway  netip.Addr
	Bits     int // prefix length of the netmask
	Hostname string
	Device   string
	DNS      []netip.Addr
	NTP      netip.Addr // parsed, not used by ichi
}

// ParseIP parses the value of ip=. The empty string is Off. Errors name the
// field that is wrong.
func ParseIP(s string) (IPParam, error) {
	var p IPParam
	if s == "" {
		return p, nil
	}
	if !strings.Contains(s, ":") {
		m, err := autoconf(s)
		if err != nil {
			return p, fmt.Errorf("ip=%s: %w", s, err)
		}
		p.Method = m
		return p, nil
	}
	f := strings.Split(s, ":")
	if len(f) > 10 {
		return p, fmt.Errorf("ip=%s: %d fields, at most 10", s, len(f))
	}
	f = append(f, make([]string, 10-len(f))...)
	addr := func(i int, name string) (netip.Addr, error) {
		if f[i] == "" {
			return netip.Addr{}, nil
		}
		a, err := netip.ParseAddr(f[i])
		if err != nil || !a.Is4() {
			return a, fmt.Errorf("ip=%s: <%s> %q is not an IPv4 address", s, name, f[i])
		}
		return a, nil
	}
	var err error
	if p.Client, err = addr(0, "client-ip"); err != nil {
		return p, err
	}
	if p.Server, err = addr(1, "server-ip"); err != nil {
		return p, err
	}
	if p.Gateway, err = addr(2, "gw-ip"); err != nil {
		return p, err
	}
	mask, err := addr(3, "netmask")
	if err != nil {
		return p, err
	}
	p.Hostname, p.Device = f[4], f[5]
	m, err := autoconf(f[6])
	if err != nil {
		return p, fmt.Errorf("ip=%s: <autoconf>: %w", s, err)
	}
	for i, name := range []string{"dns0-ip", "dns1-ip"} {
		a, err := addr(7+i, name)
		if err != nil {
			return p, err
		}
		if a.IsValid() {
			p.DNS = append(p.DNS, a)
		}
	}
	if p.NTP, err = addr(9, "ntp0-ip"); err != nil {
		return p, err
	}
	if strings.ContainsAny(p.Device, "/ ") || len(p.Device) > 15 {
		return p, fmt.Errorf("ip=%s: <device> %q is not an interface name", s, p.Device)
	}
	if !p.Client.IsValid() {
		p.Method = m
		return p, nil
	}
	p.Method = Static
	if mask.IsValid() {
		if p.Bits, err = maskBits(mask); err != nil {
			return p, fmt.Errorf("ip=%s: <netmask>: %w", s, err)
		}
	} else {
		p.Bits = classBits(p.Client)
	}
	if p.Gateway.IsValid() && !netip.PrefixFrom(p.Client, p.Bits).Masked().Contains(p.Gateway) {
		return p, fmt.Errorf("ip=%s: gateway %s is outside %s", s, p.Gateway, netip.PrefixFrom(p.Client, p.Bits).Masked())
	}
	return p, nil
}

func autoconf(s string) (Method, error) {
	switch s {
	case "", "dhcp", "on", "any", "both":
		return DHCP, nil
	case "off", "none":
		return Off, nil
	case "bootp", "rarp":
		return Off, fmt.Errorf("%s is not supported (use dhcp or a static address)", s)
	}
	return Off, fmt.Errorf("unknown method %q (want dhcp, on, any, off or none)", s)
}

// maskBits turns a dotted netmask into a prefix length; the ones must be
// contiguous.
func maskBits(m netip.Addr) (int, error) {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for v&(1<<31) != 0 {
		v <<= 1
		n++
	}
	if v != 0 {
		return 0, errors.New(m.String() + " is not a contiguous netmask")
	}
	return n, nil
}

// classBits is the classful prefix length the kernel gives an address
// without a netmask.
func classBits(a netip.Addr) int {
	switch b := a.As4()[0]; {
	case b < 128:
		return 8
	case b < 192:
		return 16
	default:
		return 24
	}
}
