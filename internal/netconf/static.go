package netconf

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
)

// Applied says what a configuration did, for the boot log.
type Applied struct {
	Device  string
	Addr    netip.Prefix
	Gateway netip.Addr
	DNS     []netip.Addr
}

func (a Applied) String() string {
	s := fmt.Sprintf("%s %s", a.Device, a.Addr)
	if a.Gateway.IsValid() {
		s += " via " + a.Gateway.String()
	}
	if len(a.DNS) > 0 {
		s += fmt.Sprintf(" dns %v", a.DNS)
	}
	return s
}

// ApplyStatic configures p (Method Static): the interface up with the
// address, the default route via the gateway when there is one, and the
// name servers written to resolvConf when there are some. linkWait is how
// long to wait for the interface to appear.
func ApplyStatic(p IPParam, resolvConf string, linkWait time.Duration) (Applied, error) {
	if p.Method != Static {
		return Applied{}, fmt.Errorf("netconf: ApplyStatic with method %s", p.Method)
	}
	link, err := FindLink(p.Device, linkWait)
	if err != nil {
		return Applied{}, err
	}
	name := link.Attrs().Name
	a := Applied{Device: name, Addr: netip.PrefixFrom(p.Client, p.Bits), Gateway: p.Gateway, DNS: p.DNS}
	if err := SetUp(name); err != nil {
		return a, err
	}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipnet(a.Addr)}); err != nil {
		return a, fmt.Errorf("netconf: %s: address %s: %w", name, a.Addr, err)
	}
	if p.Gateway.IsValid() {
		if err := setDefaultRoute(link, p.Gateway); err != nil {
			return a, err
		}
	}
	if len(p.DNS) > 0 {
		if err := WriteResolvConf(resolvConf, p.DNS, ""); err != nil {
			return a, err
		}
	}
	return a, nil
}
