package netconf

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// ResolvConf is where name servers are written unless told otherwise.
const ResolvConf = "/etc/resolv.conf"

// WriteResolvConf replaces path with one nameserver line per server (at
// most three, the resolver's limit) and a search line when domain is set.
// The file is replaced atomically. A path that is a symlink (to /run, as
// many images have) is followed, and its target replaced.
func WriteResolvConf(path string, servers []netip.Addr, domain string) error {
	var b strings.Builder
	b.WriteString("# written by ichi\n")
	if domain != "" {
		fmt.Fprintf(&b, "search %s\n", domain)
	}
	for i, s := range servers {
		if i == 3 {
			break
		}
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if t, err := filepath.EvalSymlinks(path); err == nil {
		path = t
	} else if l, lerr := os.Readlink(path); lerr == nil {
		// A dangling link (say into a /run not yet populated): write
		// its target.
		if !filepath.IsAbs(l) {
			l = filepath.Join(filepath.Dir(path), l)
		}
		path = l
	}
	tmp := path + ".ichi-tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("netconf: %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("netconf: %s: %w", path, err)
	}
	return nil
}
