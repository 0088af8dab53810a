// Package cmdline reads the kernel command line (/proc/cmdline) once and
// gives the machine role the parameters it acts on.
//
// Words are separated by spaces, tabs and newlines; double quotes group a
// value with spaces (param="a b"), and the quotes are removed, as the kernel
// does. A word "--" ends the parameters: what follows belongs to init's argv.
// In a parameter's name, '-' and '_' are the same character (modules-load=
// and modules_load= are one parameter), as for the kernel and systemd.
//
// Conventions ichi follows from the kernel and systemd:
//
//	ip=...              the kernel's nfsroot network syntax, or ip=dhcp
//	                    (parsed by package netconf; the last one wins)
//	modules_load=a,b    modules to load at boot, comma separated; may
//	                    repeat (rd.modules_load= is read the same way)
//	console=ttyS0,...   the kernel's consoles; init's stdio is /dev/console,
//	                    which the kernel points at the last one
//
// ichi's own parameters share the prefix "ichi.":
//
//	ichi.service=DIR            the service directory to supervise (/service)
//	ichi.hostname=NAME          the host name, over /etc/hostname
//	ichi.shutdown_timeout=D     how long services get to stop after TERM,
//	                            and the rest after TERM, before KILL (10s);
//	                            a Go duration ("5s", "1m") or seconds ("5")
//	ichi.dhcp_timeout=D         how long boot waits for a DHCP lease before
//	                            going on (it keeps trying in the background) (15s)
//	ichi.coldplug=0|1           load the modules the devices present ask for (1)
//	ichi.debug                  print every boot step in detail (also =1, =0)
//
// A malformed or unknown ichi.* parameter is reported as an error naming it,
// and the rest of the line still applies: a typo must not stop a boot.
package cmdline

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Path is where the kernel publishes its command line.
const Path = "/proc/cmdline"

// Param is one word of the command line: Name, and Value when the word had
// an '=' (HasValue tells "ichi.debug" from "ichi.debug=").
type Param struct {
	Name     string
	Value    string
	HasValue bool
}

// Cmdline is a parsed command line with the parameters ichi acts on.
type Cmdline struct {
	// Params are every word before "--", in order, names normalised
	// ('-' in a name is '_').
	Params []Param
	// InitArgs are the words after "--".
	InitArgs []string

	// IP is the value of the last ip= (empty when absent).
	IP string
	// ModulesLoad are the modules named by every modules_load= and
	// rd.modules_load=, in order, empty names dropped.
	ModulesLoad []string
	// Consoles are the values of console=, in order.
	Consoles []string

	// ServiceDir is ichi.service (default /service).
	ServiceDir string
	// Hostname is ichi.hostname (empty: use /etc/hostname).
	Hostname string
	// ShutdownTimeout is ichi.shutdown_timeout (default 10s).
	ShutdownTimeout time.Duration
	// DHCPTimeout is ichi.dhcp_timeout (default 15s).
	DHCPTimeout time.Duration
	// Coldplug is ichi.coldplug (default true).
	Coldplug bool
	// Debug is ichi.debug.
	Debug bool

	errs []error
}

// Defaults of ichi's parameters.
const (
	DefaultServiceDir      = "/service"
	DefaultShutdownTimeout = 10 * time.Second
	DefaultDHCPTimeout     = 15 * time.Second
)

// Read reads and parses /proc/cmdline. Errors from Parse come back joined,
// with the parsed line, which is usable even then.
func Read() (*Cmdline, error) {
	b, err := os.ReadFile(Path)
	if err != nil {
		return Parse(""), fmt.Errorf("cmdline: %w", err)
	}
	c := Parse(string(b))
	return c, c.Check()
}

// Parse splits and interprets a command line. It never fails: problems
// with single parameters are kept for Check, and the parameters that parsed
// take effect.
func Parse(line string) *Cmdline {
	c := &Cmdline{
		ServiceDir:      DefaultServiceDir,
		ShutdownTimeout: DefaultShutdownTimeout,
		DHCPTimeout:     DefaultDHCPTimeout,
		Coldplug:        true,
	}
	words, unterminated := split(line)
	for i, w := range words {
		if w == "--" {
			c.InitArgs = append([]string(nil), words[i+1:]...)
			break
		}
		name, value, has := strings.Cut(w, "=")
		p := Param{Name: strings.ReplaceAll(name, "-", "_"), Value: value, HasValue: has}
		c.Params = append(c.Params, p)
	}
	c.errs = nil
	if unterminated {
		c.errs = append(c.errs, errors.New("cmdline: unterminated double quote"))
	}
	for _, p := range c.Params {
		if err := c.apply(p); err != nil {
			c.errs = append(c.errs, fmt.Errorf("cmdline: %s: %w", p, err))
		}
	}
	return c
}

// Check returns the problems Parse found, joined, or nil.
func (c *Cmdline) Check() error { return errors.Join(c.errs...) }

// Get returns the value of the last parameter called name and whether it
// was there.
func (c *Cmdline) Get(name string) (string, bool) {
	name = strings.ReplaceAll(name, "-", "_")
	for i := len(c.Params) - 1; i >= 0; i-- {
		if c.Params[i].Name == name {
			return c.Params[i].Value, true
		}
	}
	return "", false
}

// String returns the parameter as it would be written on a command line.
func (p Param) String() string {
	w := p.Name
	if p.HasValue {
		w += "=" + p.Value
	}
	if strings.ContainsAny(w, " \t\n") {
		return `"` + w + `"`
	}
	return w
}

// Prefix is the prefix of ichi's own parameters.
const Prefix = "ichi."

func (c *Cmdline) apply(p Param) error {
	switch p.Name {
	case "ip":
		c.IP = p.Value
	case "modules_load", "rd.modules_load":
		for _, m := range strings.Split(p.Value, ",") {
			if m = strings.TrimSpace(m); m != "" {
				c.ModulesLoad = append(c.ModulesLoad, m)
			}
		}
	case "console":
		c.Consoles = append(c.Consoles, p.Value)
	case Prefix + "service":
		if p.Value == "" || !strings.HasPrefix(p.Value, "/") {
			return errors.New("want an absolute directory")
		}
		c.ServiceDir = p.Value
	case Prefix + "hostname":
		if err := ValidHostname(p.Value); err != nil {
			return err
		}
		c.Hostname = p.Value
	case Prefix + "shutdown_timeout":
		d, err := duration(p.Value)
		if err != nil {
			return err
		}
		c.ShutdownTimeout = d
	case Prefix + "dhcp_timeout":
		d, err := duration(p.Value)
		if err != nil {
			return err
		}
		c.DHCPTimeout = d
	case Prefix + "coldplug":
		b, err := boolean(p)
		if err != nil {
			return err
		}
		c.Coldplug = b
	case Prefix + "debug":
		b, err := boolean(p)
		if err != nil {
			return err
		}
		c.Debug = b
	default:
		if strings.HasPrefix(p.Name, Prefix) {
			return errors.New("unknown ichi parameter")
		}
	}
	return nil
}

// duration reads a Go duration ("1m30s") or a number of seconds ("5",
// "0.5"). Negative durations are refused.
func duration(s string) (time.Duration, error) {
	var d time.Duration
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f > float64(1<<62)/float64(time.Second) {
			return 0, fmt.Errorf("duration %q too long", s)
		}
		d = time.Duration(f * float64(time.Second))
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("want a duration like 10s or a number of seconds, not %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

// boolean reads a flag parameter: absent value means true; 1, yes, true, on
// and 0, no, false, off as systemd reads them.
func boolean(p Param) (bool, error) {
	if !p.HasValue {
		return true, nil
	}
	switch strings.ToLower(p.Value) {
	case "1", "yes", "y", "true", "on":
		return true, nil
	case "0", "no", "n", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("want 0 or 1, not %q", p.Value)
}

// ValidHostname reports whether name can be a host name: 1 to 64 bytes
// (the kernel's limit), of letters, digits, '-', '_' and '.', not starting
// with '-' or '.'.
func ValidHostname(name string) error {
	if name == "" {
		return errors.New("empty host name")
	}
	if len(name) > 64 {
		return fmt.Errorf("host name longer than 64 bytes: %q", name)
	}
	if name[0] == '-' || name[0] == '.' {
		return fmt.Errorf("host name %q starts with %q", name, name[0])
	}
	for _, r := range []byte(name) {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("host name %q has the character %q", name, r)
		}
	}
	return nil
}

// split cuts the line into words at blanks outside double quotes and drops
// the quotes. It reports an unterminated quote (the rest of the line is then
// one word, as the kernel reads it).
func split(line string) (words []string, unterminated bool) {
	var w strings.Builder
	inWord, inQuote := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '"':
			inQuote = !inQuote
			inWord = true
		case !inQuote && (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == 0):
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, inQuote
}
