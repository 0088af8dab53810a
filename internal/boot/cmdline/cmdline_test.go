package cmdline

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		check func(t *testing.T, c *Cmdline)
	}{
		{"debian default", "BOOT_IMAGE=/vmlinuz-6.1.0-56-amd64 root=/dev/vda ro quiet console=tty0 console=ttyS0,115200n8\n", func(t *testing.T, c *Cmdline) {
			if want := []string{"tty0", "ttyS0,115200n8"}; !reflect.DeepEqual(c.Consoles, want) {
				t.Errorf("Consoles = %q, want %q", c.Consoles, want)
			}
			if v, ok := c.Get("root"); !ok || v != "/dev/vda" {
				t.Errorf("Get(root) = %q, %v", v, ok)
			}
			if _, ok := c.Get("quiet"); !ok {
				t.Error("quiet missing")
			}
			if c.ServiceDir != "/service" || c.ShutdownTimeout != 10*time.Second || c.DHCPTimeout != 15*time.Second || !c.Coldplug || c.Debug {
				t.Errorf("defaults wrong: %+v", c)
			}
		}},
		{"modules_load repeats, dash spelling, rd. prefix", "modules_load=virtio_net,,e1000 modules-load=ext4 rd.modules_load=loop", func(t *testing.T, c *Cmdline) {
			if want := []string{"virtio_net", "e1000", "ext4", "loop"}; !reflect.DeepEqual(c.ModulesLoad, want) {
				t.Errorf("ModulesLoad = %q, want %q", c.ModulesLoad, want)
			}
		}},
		{"last ip wins", "ip=dhcp ip=10.0.2.15::10.0.2.2:255.255.255.0:box:eth0:off", func(t *testing.T, c *Cmdline) {
			if c.IP != "10.0.2.15::10.0.2.2:255.255.255.0:box:eth0:off" {
				t.Errorf("IP = %q", c.IP)
			}
		}},
		{"ichi parameters", "ichi.service=/srv/sv ichi.hostname=mail-1 ichi.shutdown_timeout=2.5 ichi.dhcp_timeout=1m ichi.coldplug=0 ichi.debug", func(t *testing.T, c *Cmdline) {
			if c.ServiceDir != "/srv/sv" || c.Hostname != "mail-1" || c.ShutdownTimeout != 2500*time.Millisecond ||
				c.DHCPTimeout != time.Minute || c.Coldplug || !c.Debug {
				t.Errorf("got %+v", c)
			}
			if err := c.Check(); err != nil {
				t.Error(err)
			}
		}},
		{"quotes", `a="x y" b=c"d e"f`, func(t *testing.T, c *Cmdline) {
			want := []Param{{"a", "x y", true}, {"b", "cd ef", true}}
			if got := c.Params[0].String(); got != `"a=x y"` {
				t.Errorf("String() = %s", got)
			}
			if !reflect.DeepEqual(c.Params, want) {
				t.Errorf("Params = %+v, want %+v", c.Params, want)
			}
		}},
		{"init args after --", "quiet -- single foo=bar", func(t *testing.T, c *Cmdline) {
			if !reflect.DeepEqual(c.InitArgs, []string{"single", "foo=bar"}) || len(c.Params) != 1 {
				t.Errorf("InitArgs = %q, Params = %+v", c.InitArgs, c.Params)
			}
		}},
		{"empty", "", func(t *testing.T, c *Cmdline) {
			if len(c.Params) != 0 || c.Check() != nil {
				t.Errorf("got %+v, %v", c.Params, c.Check())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, Parse(tt.line))
		})
	}
}

// Malformed parameters give an error naming them and leave the rest in force.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		line string
		want string // in the error
	}{
		{"ichi.shutdown_timeout=soon", `ichi.shutdown_timeout=soon: want a duration`},
		{"ichi.shutdown_timeout=-3", `negative duration "-3"`},
		{"ichi.dhcp_timeout=1e300", `too long`},
		{"ichi.debug=maybe", `ichi.debug=maybe: want 0 or 1`},
		{"ichi.coldplug=2", `ichi.coldplug=2: want 0 or 1`},
		{"ichi.service=relative", `ichi.service=relative: want an absolute directory`},
		{"ichi.service", `want an absolute directory`},
		{"ichi.hostname=bad/name", `has the character '/'`},
		{"ichi.hostname=-x", `starts with '-'`},
		{"ichi.hostname=" + strings.Repeat("a", 65), `longer than 64`},
		{"ichi.srevice=/x", `ichi.srevice=/x: unknown ichi parameter`},
		{`quiet a="open`, `unterminated double quote`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			c := Parse(tt.line + " ichi.service=/sv2 console=ttyS0")
			err := c.Check()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check() = %v, want an error containing %q", err, tt.want)
			}
			if !strings.Contains(tt.line, `"`) && (c.ServiceDir != "/sv2" || len(c.Consoles) != 1) {
				t.Errorf("the good parameters did not apply: %+v", c)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"BOOT_IMAGE=/vmlinuz root=/dev/vda console=ttyS0 ip=dhcp",
		`a="b c" -- x y`, "ichi.debug=1 ichi.shutdown_timeout=3s", "\"", "modules_load=a,b,,c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c := Parse(line)
		_ = c.Check()
		for _, p := range c.Params {
			if strings.Contains(p.Name, "-") {
				t.Fatalf("name %q not normalised", p.Name)
			}
			if p.Name == "--" {
				t.Fatal("-- kept as a parameter")
			}
		}
		if c.ShutdownTimeout < 0 || c.DHCPTimeout < 0 {
			t.Fatal("negative timeout")
		}
		// Parsing what Params print gives the same Params when no
		// value holds a quote.
		var parts []string
		for _, p := range c.Params {
			if strings.ContainsAny(p.String(), "\"\x00\r") || p.Name == "" && !p.HasValue {
				return
			}
			parts = append(parts, p.String())
		}
		again := Parse(strings.Join(parts, " "))
		if len(again.Params) != len(c.Params) {
			t.Fatalf("round trip: %d params, then %d (%q)", len(c.Params), len(again.Params), parts)
		}
		for i := range c.Params {
			if again.Params[i] != c.Params[i] {
				t.Fatalf("round trip: %+v became %+v", c.Params[i], again.Params[i])
			}
		}
	})
}
