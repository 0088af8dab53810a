package machine

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadFstabAndCovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fstab")
	if err := os.WriteFile(path, []byte(`# comment
/dev/vda   /data  ext4  defaults,noatime  0 2
/dev/vdb   /etc   ext4  noauto            0 0
/dev/vdc   none   swap  sw                0 0
tmpfs      /run/x tmpfs defaults          0 0
`), 0o644); err != nil {
		t.Fatal(err)
	}
	entries := readFstab(path)
	if len(entries) != 2 || entries[0].File != "/data" || entries[1].File != "/run/x" {
		t.Fatalf("readFstab = %+v, want /data and /run/x (noauto and swap left out)", entries)
	}
	for _, tc := range []struct {
		file string
		want bool
	}{
		{"/etc/resolv.conf", false}, // /etc is noauto
		{"/data/x", true},
		{"/data", true},
		{"/database/x", false},
		{"/run/x/y", true},
		{"/run/y", false},
	} {
		if got := covers(entries, tc.file); got != tc.want {
			t.Errorf("covers(%s) = %v, want %v", tc.file, got, tc.want)
		}
	}
	if covers(readFstab(filepath.Join(t.TempDir(), "none")), "/etc/resolv.conf") {
		t.Error("a missing fstab covers /etc/resolv.conf")
	}
	root := []byte("/dev/vda / ext4 defaults 0 1\n")
	if err := os.WriteFile(path, root, 0o644); err != nil {
		t.Fatal(err)
	}
	if !covers(readFstab(path), "/etc/resolv.conf") {
		t.Error("a root file system does not cover /etc/resolv.conf")
	}
}
