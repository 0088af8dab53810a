package kmod

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadModulesLoad(t *testing.T) {
	root := t.TempDir()
	etc, lib := filepath.Join(root, "etc"), filepath.Join(root, "lib")
	os.MkdirAll(etc, 0o755)
	os.MkdirAll(lib, 0o755)
	os.WriteFile(filepath.Join(etc, "b.conf"), []byte("# net\nvirtio_net\n; old comment\n\n  e1000  \n"), 0o644)
	os.WriteFile(filepath.Join(lib, "b.conf"), []byte("hidden\n"), 0o644)
	os.WriteFile(filepath.Join(lib, "a.conf"), []byte("loop\n"), 0o644)
	os.WriteFile(filepath.Join(lib, "c.txt"), []byte("ignored\n"), 0o644)
	os.WriteFile(filepath.Join(lib, "d.conf"), []byte("ok\ntwo names\n"), 0o644)
	got, err := ReadModulesLoad([]string{etc, filepath.Join(root, "missing"), lib})
	if want := []string{"loop", "virtio_net", "e1000", "ok"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if err == nil || !strings.Contains(err.Error(), "d.conf: line 2: want one module name") {
		t.Errorf("error = %v", err)
	}
}

func FuzzParseModulesLoad(f *testing.F) {
	f.Add("# c\nvirtio_net\n;x\n")
	f.Fuzz(func(t *testing.T, s string) {
		mods, err := ParseModulesLoad(strings.NewReader(s))
		for _, m := range mods {
			if m == "" || strings.ContainsAny(m, " \t/") || m[0] == '#' || m[0] == ';' {
				t.Fatalf("bad module %q (err %v)", m, err)
			}
		}
	})
}
