package netconf

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseIP(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		in   string
		want IPParam
	}{
		{"", IPParam{}},
		{"off", IPParam{}},
		{"none", IPParam{}},
		{"dhcp", IPParam{Method: DHCP}},
		{"on", IPParam{Method: DHCP}},
		{"any", IPParam{Method: DHCP}},
		{"both", IPParam{Method: DHCP}},
		{":::::eth1:dhcp", IPParam{Method: DHCP, Device: "eth1"}},
		{":::::eth1", IPParam{Method: DHCP, Device: "eth1"}},
		{":::::eth1:off", IPParam{Method: Off, Device: "eth1"}},
		{"10.0.2.15::10.0.2.2:255.255.255.0:box:eth0:off:10.0.2.3:1.1.1.1:10.0.2.4", IPParam{
			Method: Static, Client: a("10.0.2.15"), Gateway: a("10.0.2.2"), Bits: 24,
			Hostname: "box", Device: "eth0", DNS: []netip.Addr{a("10.0.2.3"), a("1.1.1.1")}, NTP: a("10.0.2.4"),
		}},
		// A client address makes it static even with autoconf dhcp, as
		// in the kernel.
		{"192.168.1.7:192.168.1.1::255.255.0.0::eth0:dhcp", IPParam{
			Method: Static, Client: a("192.168.1.7"), Server: a("192.168.1.1"), Bits: 16, Device: "eth0",
		}},
		// Class masks when the netmask is left out.
		{"10.1.2.3:", IPParam{Method: Static, Client: a("10.1.2.3"), Bits: 8}},
		{"172.16.0.9:", IPParam{Method: Static, Client: a("172.16.0.9"), Bits: 16}},
		{"192.168.0.9::192.168.0.1", IPParam{Method: Static, Client: a("192.168.0.9"), Gateway: a("192.168.0.1"), Bits: 24}},
		{"10.0.0.2:::255.255.255.255", IPParam{Method: Static, Client: a("10.0.0.2"), Bits: 32}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseIP(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseIP(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseIPErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"dhcpp", `unknown method "dhcpp"`},
		{"bootp", "bootp is not supported"},
		{"eth0:dhcp", `<client-ip> "eth0" is not an IPv4 address`},
		{"10.0.0.300::::::", `<client-ip> "10.0.0.300"`},
		{"fe80::1", `<client-ip> "fe80"`},
		{"10.0.0.2:x", `<server-ip> "x"`},
		{"10.0.0.2::gw", `<gw-ip> "gw"`},
		{"10.0.0.2:::255.0.255.0", "255.0.255.0 is not a contiguous netmask"},
		{"10.0.0.2:::24", `<netmask> "24"`},
		{"10.0.0.2::::h:eth0:static", `<autoconf>: unknown method "static"`},
		{"10.0.0.2::::h:eth0:off:1.1.1", `<dns0-ip> "1.1.1"`},
		{"10.0.0.2::::h:eth0:off::dns", `<dns1-ip> "dns"`},
		{"10.0.0.2::::h:eth0:off:::ntp", `<ntp0-ip> "ntp"`},
		{"10.0.0.2::::h:eth0:off::::", "11 fields, at most 10"},
		{"10.0.0.2::::h:a/b", `<device> "a/b"`},
		{"10.0.0.2::::h:averyveryverylongname", `<device>`},
		{"10.0.0.2::10.1.0.1:255.255.255.0", "gateway 10.1.0.1 is outside 10.0.0.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseIP(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "ip="+tt.in) {
				t.Fatalf("ParseIP(%q) error = %v, want one naming ip=%s and containing %q", tt.in, err, tt.in, tt.want)
			}
		})
	}
}

func FuzzParseIP(f *testing.F) {
	for _, s := range []string{"dhcp", "10.0.2.15::10.0.2.2:255.255.255.0:box:eth0:off:10.0.2.3:1.1.1.1:10.0.2.4",
		":::::eth0:dhcp", "1.2.3.4:::255.255.255.255", "off"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseIP(s)
		if err != nil {
			return
		}
		switch p.Method {
		case Static:
			if !p.Client.Is4() || p.Bits < 0 || p.Bits > 32 {
				t.Fatalf("static without a usable address: %+v", p)
			}
			if p.Gateway.IsValid() && !netip.PrefixFrom(p.Client, p.Bits).Masked().Contains(p.Gateway) {
				t.Fatalf("gateway off the subnet: %+v", p)
			}
		case DHCP, Off:
			if p.Client.IsValid() {
				t.Fatalf("%s with a client address: %+v", p.Method, p)
			}
		}
		if len(p.DNS) > 2 || strings.Contains(p.Device, "/") {
			t.Fatalf("bad fields: %+v", p)
		}
	})
}
