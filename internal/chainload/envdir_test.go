package chainload_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ichi-init/ichi/internal/chainload"
	"golang.org/x/sys/unix"
)

// TestReadEnvDir checks the changes ReadEnvDir returns for the differential
// tests' directories and its errors, and that it leaves the working
// directory alone (the supervisor calls it from many goroutines at once).
func TestReadEnvDir(t *testing.T) {
	root := scratch(t)
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}

	env, err := chainload.ReadEnvDir(filepath.Join(root, "env"))
	if err != nil {
		t.Fatal(err)
	}
	got := env.Apply([]string{"B=old", "KEEP=1", "A=old", "HOME=/"})
	// S is a dangling symlink: it repeats whichever value was read before
	// it, which depends on the order of the directory's entries.
	got = slices.DeleteFunc(got, func(kv string) bool { return strings.HasPrefix(kv, "S=") })
	slices.Sort(got)
	want := []string{"A=v1", "C=", "D=a\nb\n", "E=F=x=y", "KEEP=1", "L=  leading", "N=no newline", "PATH=/nonexistent", "T=tab"}
	if !slices.Equal(got, want) {
		t.Errorf("Apply = %q, want %q", got, want)
	}

	tests := []struct {
		dir   string
		op    string
		path  string
		errno error
	}{
		{"missing", "switch to directory", "missing", unix.ENOENT},
		{"notadir", "switch to directory", "notadir", unix.ENOTDIR},
		{"withsubdir", "read", "withsubdir/sub", unix.EISDIR},
	}
	for _, tt := range tests {
		_, err := chainload.ReadEnvDir(filepath.Join(root, tt.dir))
		var e *chainload.EnvDirError
		if !errors.As(err, &e) || e.Op != tt.op || e.Path != filepath.Join(root, tt.path) || !errors.Is(err, tt.errno) {
			t.Errorf("ReadEnvDir(%s) error = %#v, want %s %s: %v", tt.dir, err, tt.op, tt.path, tt.errno)
		}
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := chainload.ReadEnvDir(filepath.Join(root, "env")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if now, err := os.Getwd(); err != nil || now != cwd {
		t.Errorf("working directory %q (%v), was %q", now, err, cwd)
	}
}
