package chainload

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadEnvDir checks the changes ReadEnvDir returns and its errors, and
// that it leaves the working directory alone (the supervisor calls it from
// many goroutines at once).
func TestReadEnvDir(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"env/A":       "one  \t\ntwo\n",
		"env/B":       "",
		"env/C":       "x\x00y",
		"env/.hidden": "no",
		"sub/dir/A":   "1",
		"file":        "",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}

	env, err := ReadEnvDir(filepath.Join(root, "env"))
	if err != nil {
		t.Fatal(err)
	}
	got := env.Apply([]string{"B=old", "KEEP=1", "A=old"})
	slices.Sort(got)
	if want := []string{"A=one", "C=x\ny", "KEEP=1"}; !slices.Equal(got, want) {
		t.Errorf("Apply = %q, want %q", got, want)
	}

	tests := []struct {
		dir   string
		op    string
		path  string
		errno error
	}{
		{"missing", "switch to directory", "missing", unix.ENOENT},
		{"file", "switch to directory", "file", unix.ENOTDIR},
		{"sub", "read", "sub/dir", unix.EISDIR},
	}
	for _, tt := range tests {
		dir := filepath.Join(root, tt.dir)
		_, err := ReadEnvDir(dir)
		var e *EnvDirError
		if !errors.As(err, &e) || e.Op != tt.op || e.Path != filepath.Join(root, tt.path) || !errors.Is(err, tt.errno) {
			t.Errorf("ReadEnvDir(%s) error = %#v, want %s %s: %v", tt.dir, err, tt.op, tt.path, tt.errno)
		}
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := ReadEnvDir(filepath.Join(root, "env")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if now, err := os.Getwd(); err != nil || now != cwd {
		t.Errorf("working directory %q (%v), was %q", now, err, cwd)
	}
}
