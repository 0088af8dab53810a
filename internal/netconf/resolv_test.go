package netconf

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteResolvConf(t *testing.T) {
	dir := t.TempDir()
	a := netip.MustParseAddr
	servers := []netip.Addr{a("10.0.0.53"), a("10.0.0.54"), a("10.0.0.55"), a("10.0.0.56")}
	const want = "# written by ichi\nsearch lan\nnameserver 10.0.0.53\nnameserver 10.0.0.54\nnameserver 10.0.0.55\n"

	plain := filepath.Join(dir, "resolv.conf")
	os.WriteFile(plain, []byte("old\n"), 0o644)
	// A dangling symlink into a directory that exists (like /etc ->
	// /run/resolv.conf before anything wrote it).
	link := filepath.Join(dir, "link.conf")
	target := filepath.Join(dir, "run-resolv.conf")
	if err := os.Symlink("run-resolv.conf", link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{plain, link} {
		if err := WriteResolvConf(p, servers, "lan"); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{plain, target} {
		b, err := os.ReadFile(p)
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced: %v %v", fi, err)
	}
	if err := WriteResolvConf(filepath.Join(dir, "no", "such"), servers, ""); err == nil {
		t.Error("writing into a missing directory did not fail")
	}
}
