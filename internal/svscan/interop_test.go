package svscan

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/testutil"
)

// TestDaemontoolsAndRunitToolsDriveScannedServices runs Debian's svc, svstat
// and svok (daemontools) and sv (runit) against a service and its external
// logger supervised by the scanner.
func TestDaemontoolsAndRunitToolsDriveScannedServices(t *testing.T) {
	svc, svstat, svok, sv := testutil.Need(t, "svc"), testutil.Need(t, "svstat"), testutil.Need(t, "svok"), testutil.Need(t, "sv")
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	writeService(t, a, "exec sleep 1000")
	writeFile(t, filepath.Join(a, "log/run"), "#!/bin/sh\nexec cat > /dev/null\n", 0o755)
	r := startScanner(t, dir, Config{})
	waitFor(t, 5*time.Second, "a and its logger up", func() bool {
		st, _ := r.status("a")
		return r.up("a") && st.Log != nil && st.Log.Up
	})
	upRe := regexp.MustCompile(`^` + regexp.QuoteMeta(a) + `: up \(pid (\d+)\) \d+ seconds\n$`)
	steps := []struct {
		tool string
		args []string
		code int
		want *regexp.Regexp // of the output; nil: empty
		wait func() bool    // what must hold afterwards
	}{
		{svok, []string{a}, 0, nil, nil},
		{svok, []string{a + "/log"}, 0, nil, nil},
		{svstat, []string{a}, 0, upRe, nil},
		{svc, []string{"-d", a}, 0, nil, func() bool { return !r.up("a") }},
		{svstat, []string{a}, 0, regexp.MustCompile(`^` + regexp.QuoteMeta(a) + `: down \d+ seconds, normally up\n$`), nil},
		{sv, []string{"status", a}, 0, regexp.MustCompile(`^down: ` + regexp.QuoteMeta(a) + `: \d+s, normally up; run: log: \(pid \d+\) \d+s\n$`), nil},
		{sv, []string{"up", a}, 0, nil, func() bool { return r.up("a") }},
		{sv, []string{"status", a}, 0, regexp.MustCompile(`^run: ` + regexp.QuoteMeta(a) + `: \(pid \d+\) \d+s; run: log: \(pid \d+\) \d+s\n$`), nil},
		{svc, []string{"-t", a}, 0, nil, func() bool {
			st, _ := r.status("a")
			return st.Service != nil && st.Service.Restarts >= 1 && st.Service.Up
		}},
		{svc, []string{"-d", a + "/log"}, 0, nil, func() bool {
			st, _ := r.status("a")
			return st.Log != nil && !st.Log.Up
		}},
		{svstat, []string{a + "/log"}, 0, regexp.MustCompile(`: down \d+ seconds, normally up\n$`), nil},
		{sv, []string{"start", a + "/log"}, 0, regexp.MustCompile(`^ok: run: .*log: \(pid \d+\) \d+s\n$`), nil},
	}
	for i, s := range steps {
		out, code := runTool(t, s.tool, s.args...)
		name := fmt.Sprintf("step %d: %s %s", i, filepath.Base(s.tool), strings.Join(s.args, " "))
		if code != s.code {
			t.Fatalf("%s: exit %d, want %d; output %q", name, code, s.code, out)
		}
		if (s.want == nil && out != "") || (s.want != nil && !s.want.MatchString(out)) {
			t.Fatalf("%s: output %q, want %v", name, out, s.want)
		}
		if s.wait != nil {
			waitFor(t, 5*time.Second, name+" taking effect", s.wait)
		}
	}
	// svc -x makes the supervisor exit once the service is down (the
	// service keeps running); the next full rescan starts a supervisor
	// again, as daemontools' svscan does.
	if _, code := runTool(t, svc, "-dx", a); code != 0 {
		t.Fatal("svc -dx failed")
	}
	waitFor(t, 5*time.Second, "supervisor gone", func() bool {
		st, _ := r.status("a")
		return st.Service == nil
	})
	if _, code := runTool(t, svok, a); code == 0 {
		t.Error("svok: a supervisor still answers after svc -x")
	}
	r.sc.Rescan()
	waitFor(t, 5*time.Second, "supervisor back after the rescan", func() bool { return r.up("a") })
	if _, err := os.Stat(filepath.Join(a, "supervise/status")); err != nil {
		t.Error(err)
	}
}
