package svscan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/testutil"
)

// TestShutdownKeepsEveryLine is init's shutdown: StopServices, then
// DrainLoggers. Services that write until they are told to stop, and write a
// last line when they get TERM, have every line in their logs afterwards:
// in-process, external and catch-all loggers alike.
func TestShutdownKeepsEveryLine(t *testing.T) {
	multilog := testutil.Need(t, "multilog")
	dir := t.TempDir()
	const writer = `trap 'echo "last line of $1"; exit 0' TERM
i=0
while :; do echo "$1 line $i"; i=$((i+1)); sleep 0.001; done`
	for _, name := range []string{"inproc", "external", "plain"} {
		writeService(t, filepath.Join(dir, name), "set -- "+name+"\n"+writer)
	}
	writeFile(t, filepath.Join(dir, "inproc/log/multilog"), "t s4096 n20 ./main\n", 0o644)
	writeFile(t, filepath.Join(dir, "external/log/run"), "#!/bin/sh\nexec "+multilog+" t s4096 n20 ./main\n", 0o755)
	console := &syncBuffer{}
	catchDir := filepath.Join(t.TempDir(), "catch-all")
	r := startScanner(t, dir, Config{
		CatchAll: CatchAll{Console: console, Prefix: true, Script: []string{"t", catchDir}},
	})
	for _, name := range []string{"inproc", "external", "plain"} {
		waitFor(t, 5*time.Second, name+" up", func() bool { return r.up(name) })
	}
	time.Sleep(300 * time.Millisecond) // some output, some rotations
	r.sc.StopServices(5 * time.Second)
	for _, name := range []string{"inproc", "external", "plain"} {
		if st, _ := r.status(name); st.Service != nil {
			t.Errorf("%s: supervisor still there after StopServices: %+v", name, st.Service)
		}
	}
	r.sc.DrainLoggers()
	check := func(what, text, name string) {
		t.Helper()
		last := "last line of " + name
		if !strings.Contains(text, last) {
			t.Errorf("%s: %q missing", what, last)
		}
		if !strings.Contains(text, name+" line 0") {
			t.Errorf("%s: first line missing", what)
		}
	}
	for _, name := range []string{"inproc", "external"} {
		check(name, readLogDir(t, filepath.Join(dir, name, "log/main")), name)
	}
	check("catch-all console", console.String(), "plain")
	check("catch-all log", readLogDir(t, catchDir), "plain")
	if !strings.Contains(readLogDir(t, catchDir), "plain: plain line 0") {
		t.Error("catch-all log: lines not prefixed with the service name")
	}
	// current is marked finished (0744) by multilog when it ends cleanly.
	for _, d := range []string{filepath.Join(dir, "inproc/log/main"), filepath.Join(dir, "external/log/main"), catchDir} {
		fi, err := os.Stat(filepath.Join(d, "current"))
		if err != nil || fi.Mode().Perm() != 0o744 {
			t.Errorf("%s/current: %v, mode %v: want 0744 (finished)", d, err, fi.Mode())
		}
	}
}

// readLogDir returns the rotated files of a multilog directory in order, then
// current.
func readLogDir(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "@") {
			c, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			b.Write(c)
		}
	}
	c, _ := os.ReadFile(filepath.Join(dir, "current"))
	b.Write(c)
	return b.String()
}
