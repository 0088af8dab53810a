package netconf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	urand "github.com/u-root/uio/rand"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DHCPOptions configure a DHCP client.
type DHCPOptions struct {
	// Device is the interface; empty means the first that is not
	// loopback (see FindLink).
	Device string
	// LinkWait is how long to wait for the interface to appear.
	LinkWait time.Duration
	// ResolvConf is the file the name servers are written to (default
	// /etc/resolv.conf).
	ResolvConf string
	// Hostname, when set, is sent to the server (option 12).
	Hostname string
	// ExchangeTimeout is how long one DHCP exchange waits for an answer
	// before its retry (default 2s; nclient4 tries three times).
	ExchangeTimeout time.Duration
	// MaxBackoff caps the wait between failed attempts (default 30s).
	MaxBackoff time.Duration
	// Logf receives one line per event (lease, renewal, failure). Nil
	// discards them.
	Logf func(format string, args ...any)
	// OnLease, when set, is called after each lease is applied, first and
	// renewed alike, from the client's goroutine.
	OnLease func(Lease)
}

// Lease is what the client applied from a server's ACK.
type Lease struct {
	Device   string
	Addr     netip.Prefix
	Router   netip.Addr
	DNS      []netip.Addr
	Domain   string
	Server   netip.Addr
	Duration time.Duration // 0: infinite
	Renewal  time.Duration // T1
	Rebind   time.Duration // T2
	Acquired time.Time
	// Renewed is false for a lease from DISCOVER/REQUEST, true for one
	// extended by a renewing REQUEST.
	Renewed bool
}

func (l Lease) String() string {
	s := fmt.Sprintf("%s %s from %s", l.Device, l.Addr, l.Server)
	if l.Router.IsValid() {
		s += " via " + l.Router.String()
	}
	if len(l.DNS) > 0 {
		s += fmt.Sprintf(" dns %v", l.DNS)
	}
	if l.Duration > 0 {
		s += " for " + l.Duration.String()
	}
	return s
}

// DHCPClient gets a lease and keeps it renewed in its own goroutine, which
// Stop ends and waits for.
type DHCPClient struct {
	o      DHCPOptions
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	lease   *Lease
	bound   chan struct{} // closed at the first lease
	lastErr error
}

// StartDHCP starts a client that acquires a lease, applies it (address with
// the lease's lifetime, default route, resolv.conf) and renews it at T1,
// then again until the lease runs out; a lost lease starts over with
// DISCOVER. Failures are retried with a growing pause; the client never
// gives up until Stop.
func StartDHCP(o DHCPOptions) *DHCPClient {
	if o.ResolvConf == "" {
		o.ResolvConf = ResolvConf
	}
	if o.ExchangeTimeout <= 0 {
		o.ExchangeTimeout = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &DHCPClient{o: o, cancel: cancel, done: make(chan struct{}), bound: make(chan struct{})}
	go c.guard(ctx)
	return c
}

// Stop ends the client and waits for its goroutine. The address stays
// configured.
func (c *DHCPClient) Stop() {
	c.cancel()
	<-c.done
}

// WaitBound waits until the first lease is applied, ctx ends or the client
// stops, and returns the lease, or the last error seen with ctx's.
func (c *DHCPClient) WaitBound(ctx context.Context) (Lease, error) {
	select {
	case <-c.bound:
		c.mu.Lock()
		defer c.mu.Unlock()
		return *c.lease, nil
	case <-ctx.Done():
	case <-c.done:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastErr != nil {
		return Lease{}, fmt.Errorf("netconf: dhcp: no lease yet: %w", c.lastErr)
	}
	return Lease{}, fmt.Errorf("netconf: dhcp: no lease yet: %w", ctx.Err())
}

// guard runs the client loop, and restarts it after a pause if it panics:
// the client lives inside PID 1.
func (c *DHCPClient) guard(ctx context.Context) {
	defer close(c.done)
	for ctx.Err() == nil {
		func() {
			defer func() {
				if r := recover(); r != nil {
					c.o.Logf("dhcp: panic (restarting): %v\n%s", r, debug.Stack())
				}
			}()
			c.run(ctx)
		}()
		sleep(ctx, 5*time.Second)
	}
}

func (c *DHCPClient) fail(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
	c.o.Logf("dhcp: %v", err)
}

func (c *DHCPClient) run(ctx context.Context) {
	xidsWithoutWaiting()
	backoff := time.Second
	var link netlink.Link
	for ctx.Err() == nil {
		var err error
		if link == nil {
			if link, err = FindLink(c.o.Device, c.o.LinkWait); err == nil {
				err = SetUp(link.Attrs().Name)
			}
			if err != nil {
				link = nil
				c.fail(err)
				sleep(ctx, backoff)
				backoff = min(2*backoff, c.o.MaxBackoff)
				continue
			}
		}
		name := link.Attrs().Name
		lease, raw, sock, err := c.exchange(ctx, name, nil)
		if err != nil {
			c.fail(fmt.Errorf("%s: %w", name, err))
			sleep(ctx, backoff)
			backoff = min(2*backoff, c.o.MaxBackoff)
			continue
		}
		backoff = time.Second
		c.keep(ctx, link, lease, raw, sock)
	}
}

// keep applies a lease and renews it until it is lost or ctx ends. sock is
// the socket of the exchange that got the lease, closed once the lease is
// applied.
func (c *DHCPClient) keep(ctx context.Context, link netlink.Link, lease Lease, raw *nclient4.Lease, sock io.Closer) {
	name := link.Attrs().Name
	var prev netip.Prefix
	for {
		if err := c.applyThenClose(link, lease, prev, sock); err != nil {
			c.fail(err)
		}
		prev = lease.Addr
		if lease.Duration == 0 {
			<-ctx.Done()
			return
		}
		expiry := lease.Acquired.Add(lease.Duration)
		if !sleep(ctx, time.Until(lease.Acquired.Add(lease.Renewal))) {
			return
		}
		for {
			next, nraw, nsock, err := c.exchange(ctx, name, raw)
			if err == nil {
				lease, raw, sock = next, nraw, nsock
				break
			}
			var nak *nclient4.ErrNak
			if errors.As(err, &nak) || time.Now().After(expiry) {
				c.fail(fmt.Errorf("%s: lease %s lost: %w", name, lease.Addr, err))
				c.unapply(link, lease)
				return
			}
			c.fail(fmt.Errorf("%s: renew %s: %w", name, lease.Addr, err))
			// RFC 2131 4.4.5: retry at half the time left, not
			// more often than every few seconds.
			wait := max(time.Until(expiry)/2, time.Second)
			if !sleep(ctx, min(wait, 60*time.Second)) {
				return
			}
		}
	}
}

// exchange runs DISCOVER/OFFER/REQUEST/ACK, or a renewing REQUEST when old
// is set, on a socket opened for it. A packet socket left open would copy
// every IP packet of the interface to init, so the socket is closed after
// the exchange: by exchange when it fails, else by the caller, which gets it
// to close once it has applied the lease. Closing a packet socket waits for
// an RCU grace period in the kernel (synchronize_net), 9-33 ms in a TCG
// guest: the boot waits for the first lease, not for that.
func (c *DHCPClient) exchange(ctx context.Context, dev string, old *nclient4.Lease) (_ Lease, _ *nclient4.Lease, sock io.Closer, err error) {
	cl, err := nclient4.New(dev, nclient4.WithTimeout(c.o.ExchangeTimeout))
	if err != nil {
		return Lease{}, nil, nil, fmt.Errorf("open: %w", err)
	}
	defer func() {
		if err != nil {
			cl.Close()
		}
	}()
	var mods []dhcpv4.Modifier
	if c.o.Hostname != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(c.o.Hostname)))
	}
	mods = append(mods, dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter,
		dhcpv4.OptionDomainNameServer, dhcpv4.OptionDomainName))
	var raw *nclient4.Lease
	if old == nil {
		raw, err = cl.Request(ctx, mods...)
	} else {
		raw, err = cl.Renew(ctx, old, mods...)
	}
	if err != nil {
		return Lease{}, nil, nil, err
	}
	l, err := leaseFromACK(dev, raw.ACK)
	if err != nil {
		return Lease{}, nil, nil, err
	}
	l.Acquired = raw.CreationTime
	l.Renewed = old != nil
	return l, raw, cl, nil
}

// leaseFromACK reads what ichi uses from an ACK.
func leaseFromACK(dev string, ack *dhcpv4.DHCPv4) (Lease, error) {
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || ip.IsUnspecified() {
		return Lease{}, fmt.Errorf("ACK without an address")
	}
	bits := classBits(ip)
	if m := ack.SubnetMask(); m != nil {
		if ones, size := m.Size(); size == 32 {
			bits = ones
		}
	}
	l := Lease{Device: dev, Addr: netip.PrefixFrom(ip, bits)}
	if s, ok := netip.AddrFromSlice(ack.ServerIdentifier().To4()); ok {
		l.Server = s
	}
	for _, r := range ack.Router() {
		if a, ok := netip.AddrFromSlice(r.To4()); ok && !a.IsUnspecified() {
			l.Router = a
			break
		}
	}
	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok && !a.IsUnspecified() {
			l.DNS = append(l.DNS, a)
		}
	}
	if d := ack.DomainName(); validDomain(d) {
		l.Domain = d
	}
	l.Duration = ack.IPAddressLeaseTime(0)
	if l.Duration >= 0xffffffff*time.Second {
		l.Duration = 0 // infinite (RFC 2132 9.2)
	}
	if l.Duration > 0 {
		l.Renewal = ack.IPAddressRenewalTime(l.Duration / 2)
		l.Rebind = ack.IPAddressRebindingTime(l.Duration * 7 / 8)
		if l.Renewal <= 0 || l.Renewal > l.Duration {
			l.Renewal = l.Duration / 2
		}
	}
	return l, nil
}

// validDomain keeps a server's domain name out of resolv.conf unless it is
// a plain name.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, r := range []byte(d) {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// applyThenClose applies the lease (see apply) and then closes sock, the
// socket of the exchange that got it, also when apply panics.
func (c *DHCPClient) applyThenClose(link netlink.Link, l Lease, prev netip.Prefix, sock io.Closer) error {
	defer sock.Close()
	return c.apply(link, l, prev)
}

// apply sets the lease's address with the lease's lifetime (so the kernel
// drops it if renewal fails and init is gone), the default route and
// resolv.conf; prev, when different, is removed.
func (c *DHCPClient) apply(link netlink.Link, l Lease, prev netip.Prefix) error {
	name := link.Attrs().Name
	if prev.IsValid() && prev != l.Addr {
		netlink.AddrDel(link, &netlink.Addr{IPNet: ipnet(prev)})
	}
	a := &netlink.Addr{IPNet: ipnet(l.Addr)}
	if l.Duration > 0 {
		secs := int(l.Duration / time.Second)
		a.ValidLft, a.PreferedLft = secs, secs
	}
	var errs []error
	if err := netlink.AddrReplace(link, a); err != nil {
		errs = append(errs, fmt.Errorf("netconf: %s: address %s: %w", name, l.Addr, err))
	}
	if l.Router.IsValid() {
		if err := setDefaultRoute(link, l.Router); err != nil {
			errs = append(errs, err)
		}
	}
	if len(l.DNS) > 0 && !l.Renewed {
		if err := WriteResolvConf(c.o.ResolvConf, l.DNS, l.Domain); err != nil {
			errs = append(errs, err)
		}
	}
	c.mu.Lock()
	first := c.lease == nil
	cp := l
	c.lease = &cp
	c.mu.Unlock()
	if l.Renewed {
		c.o.Logf("dhcp: renewed %s", l)
	} else {
		c.o.Logf("dhcp: bound %s", l)
	}
	if first {
		close(c.bound)
	}
	if c.o.OnLease != nil {
		c.o.OnLease(l)
	}
	return errors.Join(errs...)
}

// unapply removes a lost lease's address (its routes go with it).
func (c *DHCPClient) unapply(link netlink.Link, l Lease) {
	if err := netlink.AddrDel(link, &netlink.Addr{IPNet: ipnet(l.Addr)}); err != nil {
		c.o.Logf("dhcp: %s: remove %s: %v", link.Attrs().Name, l.Addr, err)
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// xidsWithoutWaiting gives the DHCP library a source for its transaction
// ids that never waits for the kernel's random generator. By default the
// library calls getrandom(GRND_NONBLOCK) in a busy loop until the generator
// is initialised; early in a boot without a hardware RNG (a QEMU guest under
// TCG) that spins for minutes, and any blocking read (getrandom, or
// /dev/urandom since Linux 5.18) first collects jitter entropy for about a
// second. A transaction id only has to differ from its neighbours' on the
// link, not to be secret, so getrandom(GRND_INSECURE) is enough. The
// library's source is a package variable; the DHCP client is its only user
// in ichi.
func xidsWithoutWaiting() {
	xidSourceOnce.Do(func() { urand.Reader = xidSource{} })
}

var xidSourceOnce sync.Once

// xidSource reads getrandom(GRND_INSECURE) (Linux 5.6 and later), and on
// older kernels mixes the clock into a counter, which is unique enough for
// transaction ids.
type xidSource struct{}

var xidCounter atomic.Uint64

func (xidSource) Read(b []byte) (int, error) {
	n, err := unix.Getrandom(b, unix.GRND_INSECURE)
	if err == nil && n == len(b) {
		return n, nil
	}
	x := uint64(time.Now().UnixNano()) ^ xidCounter.Add(0x9e3779b97f4a7c15)
	for i := range b {
		b[i] = byte(x >> (8 * (i % 8)))
	}
	return len(b), nil
}

func (s xidSource) ReadContext(_ context.Context, b []byte) (int, error) { return s.Read(b) }
