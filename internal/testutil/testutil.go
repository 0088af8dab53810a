// Package testutil holds what ichi's tests share: finding the reference
// programs (Debian's daemontools, runit, s6, tini, ...) and the ichi binary
// under test.
//
// A reference program that is missing skips the test on a developer's
// machine, but fails it when CI=true: in CI a skipped differential test would
// be a test that cannot fail.
package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where missing
// dependencies are failures.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need returns the path of the program name, looked up in PATH and in the
// directories Debian's packages install to (daemontools and runit live in
// /usr/bin and /usr/sbin, s6 in /usr/bin). When it is missing the test is
// skipped, or failed under CI.
func Need(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/lib/s6/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	Missing(t, "reference program %s not found (run make deps)", name)
	return ""
}

// NeedRoot skips the test (fails it under CI) when not running as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "test needs root")
	}
}

// Missing reports a missing dependency: a failure under CI, a skip elsewhere.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("missing dependency under CI=true: "+format, args...)
	}
	t.Skipf("missing dependency: "+format, args...)
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildLog  []byte
)

// Ichi returns the path of a static ichi binary: $ICHI_BIN when set (the
// Makefile sets it to bin/init), otherwise one built once per test process
// into a temporary directory.
func Ichi(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ICHI_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ichi-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "init")
		cmd := exec.Command("go", "build", "-o", buildPath, "github.com/ichi-init/ichi/cmd/init")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Dir = moduleRoot()
		buildLog, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build ichi: %v\n%s", buildErr, buildLog)
	}
	return buildPath
}

// moduleRoot is the repository's top folder, found from this source file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ModuleRoot returns the repository's top folder.
func ModuleRoot() string { return moduleRoot() }

// ToolLink makes a symlink named tool in a temporary directory pointing at
// the ichi binary and returns its path, so the binary runs in that tool's role
// exactly as an installed symlink would.
func ToolLink(t testing.TB, tool string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, tool)
	if err := os.Symlink(Ichi(t), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// SyncBuffer is a bytes.Buffer that a test and the goroutines it starts may
// write and read at the same time.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
