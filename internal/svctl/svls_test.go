package svctl

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/svstatus"
	"github.com/ichi-init/ichi/internal/testutil"
)

// scanFixture makes a scan directory with services in every state svls
// shows, their files written as the supervisors write them, and returns it
// with the time to show them at.
func scanFixture(t *testing.T) (string, time.Time) {
	t.Helper()
	now := time.Unix(1800000000, 0)
	scan := t.TempDir()
	fake := func(name string, st svstatus.Status, size int) string {
		dir := filepath.Join(scan, name)
		newFake(t, dir)
		writeStatus(t, dir, st, size)
		return dir
	}
	// ichi's supervisor: up an hour, ready, restarted twice, last exit 1.
	dir := fake("api", svstatus.Status{Since: now.Add(-3725 * time.Second), Pid: 4242, Want: 'u', State: svstatus.Run}, 20)
	svstatus.WriteHistory(dir, svstatus.History{Restarts: 2, Exited: true, Code: 1})
	svstatus.WriteReady(dir, now.Add(-3724*time.Second))
	// ichi's, its logger up and not ready; the service killed by KILL and
	// wanted down.
	dir = fake("db", svstatus.Status{Since: now.Add(-42 * time.Second), Want: 'd', State: svstatus.Down}, 20)
	os.WriteFile(filepath.Join(dir, "down"), nil, 0o644)
	svstatus.WriteHistory(dir, svstatus.History{Restarts: 0, Exited: true, Signal: 9})
	dir = fake("db/log", svstatus.Status{Since: now.Add(-90000 * time.Second), Pid: 4300, Want: 'u', State: svstatus.Run}, 20)
	svstatus.WriteHistory(dir, svstatus.History{Restarts: 11})
	// daemontools' supervise: paused, normally down.
	dir = fake("mail", svstatus.Status{Since: now.Add(-61 * time.Second), Pid: 77, Paused: true, Want: 'u'}, 18)
	os.WriteFile(filepath.Join(dir, "down"), nil, 0o644)
	// runit's runsv: ./finish running after a TERM.
	fake("proxy", svstatus.Status{Since: now.Add(-5 * time.Second), Pid: 55, Want: 'd', Term: true, State: svstatus.Finish}, 20)
	// runit's, down but wanted up.
	fake("queue", svstatus.Status{Since: now.Add(time.Second), Want: 'u', State: svstatus.Down}, 20)
	// ichi's supervisor recognised by its notification socket only.
	dir = fake("web", svstatus.Status{Since: now.Add(-10 * time.Second), Pid: 900, Want: 'u', State: svstatus.Run}, 20)
	os.WriteFile(filepath.Join(dir, "supervise", "notify"), nil, 0o600)
	// No supervisor; a broken status file; things that are not services.
	os.MkdirAll(filepath.Join(scan, "cron"), 0o755)
	dir = fake("broken", svstatus.Status{}, 20)
	os.WriteFile(filepath.Join(dir, "supervise", "status"), []byte("short"), 0o644)
	os.MkdirAll(filepath.Join(scan, ".hidden"), 0o755)
	os.WriteFile(filepath.Join(scan, "README"), nil, 0o644)
	return scan, now
}

func TestSvlsTable(t *testing.T) {
	scan, now := scanFixture(t)
	var out, stderr bytes.Buffer
	if code := svls([]string{"svls", scan}, &out, &stderr, now); code != 0 {
		t.Fatalf("svls = %d, %s", code, stderr.String())
	}
	want := `SERVICE  STATE         PID   TIME   READY  RESTARTS  EXIT     FLAGS
api      up            4242  1h02m  yes    2         1
broken   error         -     -      -      -         -        read supervise/status: bad format
cron     unsupervised  -     -      -      -         -
db       down          -     42s    no     0         SIGKILL
db/log   up            4300  1d01h  no     11        -
mail     up            77    1m01s  -      -         -        normally down, paused
proxy    finish        55    5s     -      -         -        want down, got TERM
queue    down          -     0s     -      -         -        normally up, want up
web      up            900   10s    no     -         -
`
	if got := out.String(); got != want {
		t.Errorf("svls:\n%s\nwant:\n%s", got, want)
	}
}

func TestSvlsJSON(t *testing.T) {
	scan, now := scanFixture(t)
	var out, stderr bytes.Buffer
	if code := svls([]string{"svls", "-j", scan}, &out, &stderr, now); code != 0 {
		t.Fatalf("svls -j = %d, %s", code, stderr.String())
	}
	var got []map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("svls -j output is not JSON: %v\n%s", err, out.String())
	}
	byName := map[string]map[string]any{}
	for _, s := range got {
		byName[s["name"].(string)] = s
	}
	checks := []struct {
		name, key string
		want      any
	}{
		{"api", "state", "up"},
		{"api", "pid", 4242.0},
		{"api", "seconds", 3725.0},
		{"api", "ready", true},
		{"api", "restarts", 2.0},
		{"api", "last_exit", map[string]any{"code": 1.0}},
		{"api", "since", now.Add(-3725 * time.Second).UTC().Format(time.RFC3339Nano)},
		{"db", "last_exit", map[string]any{"code": 137.0, "signal": "SIGKILL"}},
		{"db", "normally_up", false},
		{"db", "want", "down"},
		{"db/log", "dir", filepath.Join(scan, "db", "log")},
		{"mail", "ready", nil},
		{"mail", "restarts", nil},
		{"mail", "paused", true},
		{"proxy", "state", "finish"},
		{"proxy", "term", true},
		{"cron", "supervised", false},
		{"cron", "state", "unsupervised"},
		{"web", "ready", false},
		{"broken", "state", "error"},
	}
	for _, c := range checks {
		s, ok := byName[c.name]
		if !ok {
			t.Errorf("no %s in svls -j", c.name)
			continue
		}
		g := s[c.key]
		if gm, ok := g.(map[string]any); ok {
			wm := c.want.(map[string]any)
			if len(gm) != len(wm) {
				t.Errorf("%s.%s = %v, want %v", c.name, c.key, g, c.want)
			}
			for k, v := range wm {
				if gm[k] != v {
					t.Errorf("%s.%s = %v, want %v", c.name, c.key, g, c.want)
				}
			}
			continue
		}
		if s := g; s != c.want {
			if ts, ok := g.(string); ok && c.key == "since" {
				if pt, err := time.Parse(time.RFC3339Nano, ts); err == nil && pt.Equal(now.Add(-3725*time.Second)) {
					continue
				}
			}
			t.Errorf("%s.%s = %#v, want %#v", c.name, c.key, g, c.want)
		}
	}
	if len(got) != 9 {
		t.Errorf("svls -j listed %d services, want 9", len(got))
	}
}

func TestSvlsUsage(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		argv   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"svls", "-z"}, 100, "", "svls: illegal option -- z\nsvls: usage: svls [-j] [scandir]\n"},
		{[]string{"svls", "a", "b"}, 100, "", "svls: usage: svls [-j] [scandir]\n"},
		{[]string{"svls", empty + "/missing"}, 111, "", "svls: fatal: unable to read " + empty + "/missing: file does not exist\n"},
		{[]string{"svls", empty}, 0, "SERVICE  STATE  PID  TIME  READY  RESTARTS  EXIT  FLAGS\n", ""},
		{[]string{"svls", "-j", empty}, 0, "[]\n", ""},
	}
	for _, tt := range tests {
		var out, stderr bytes.Buffer
		code := svls(tt.argv, &out, &stderr, time.Now())
		if code != tt.code || out.String() != tt.stdout || stderr.String() != tt.stderr {
			t.Errorf("%q = %d, %q, %q; want %d, %q, %q", tt.argv, code, out.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
		}
	}
}

func TestFormatSeconds(t *testing.T) {
	tests := []struct {
		secs int64
		want string
	}{
		{0, "0s"}, {59, "59s"}, {60, "1m00s"}, {61, "1m01s"}, {3599, "59m59s"},
		{3600, "1h00m"}, {86399, "23h59m"}, {86400, "1d00h"}, {90000, "1d01h"}, {400 * 86400, "400d00h"},
	}
	for _, tt := range tests {
		if got := FormatSeconds(tt.secs); got != tt.want {
			t.Errorf("FormatSeconds(%d) = %q, want %q", tt.secs, got, tt.want)
		}
	}
}

// TestSvlsLive runs the svls binary on a scan directory whose services run
// under daemontools' supervise, runit's runsv and ichi's supervise tool (a
// service that reports readiness on notification-fd), with one service
// stopped and one unsupervised.
func TestSvlsLive(t *testing.T) {
	svlsBin, svwaitBin, svcBin := testutil.ToolLink(t, "svls"), testutil.ToolLink(t, "svwait"), testutil.ToolLink(t, "svc")
	scan := t.TempDir()
	dt := serviceDir(t, scan, "dt", "exec sleep 300")
	rs := serviceDir(t, scan, "rs", "exec sleep 300")
	ichi := serviceDir(t, scan, "ichi", "echo >&3; exec sleep 300")
	os.WriteFile(filepath.Join(ichi, "notification-fd"), []byte("3\n"), 0o644)
	stopped := serviceDir(t, scan, "stopped", "exec sleep 300")
	os.WriteFile(filepath.Join(stopped, "down"), nil, 0o644)
	serviceDir(t, scan, "unsup", "exec sleep 300")
	startSupervisor(t, testutil.Need(t, "supervise"), dt)
	startSupervisor(t, testutil.Need(t, "runsv"), rs)
	startSupervisor(t, testutil.ToolLink(t, "supervise"), ichi)
	startSupervisor(t, testutil.Need(t, "runsv"), stopped)
	runTool(t, scan, svcBin, "-p", "dt")

	if r := runTool(t, scan, svwaitBin, "-t", "10000", "-u", "dt", "rs"); r.code != 0 {
		t.Fatalf("svwait -u = %+v", r)
	}
	if r := runTool(t, scan, svwaitBin, "-t", "10000", "-U", "ichi"); r.code != 0 {
		t.Fatalf("svwait -U on ichi's supervisor = %+v", r)
	}
	waitFor(t, "dt paused", func() bool {
		st, err := svstatus.ReadStatus(dt)
		return err == nil && st.Paused
	})

	r := runTool(t, scan, svlsBin, "-j", scan)
	var got []Service
	if err := json.Unmarshal([]byte(r.stdout), &got); r.code != 0 || err != nil {
		t.Fatalf("svls -j = %+v (%v)", r, err)
	}
	want := map[string]string{
		"dt":      "up paused ready=- restarts=-",
		"ichi":    "up ready=yes restarts=0",
		"rs":      "up ready=- restarts=-",
		"stopped": "down ready=- restarts=-",
		"unsup":   "unsupervised ready=- restarts=-",
	}
	for _, s := range got {
		line := s.State
		if s.Paused {
			line += " paused"
		}
		ready, restarts := "-", "-"
		if s.Ready != nil {
			ready = map[bool]string{true: "yes", false: "no"}[*s.Ready]
		}
		if s.Restarts != nil {
			restarts = "0"
			if *s.Restarts != 0 {
				restarts = "many"
			}
		}
		line += " ready=" + ready + " restarts=" + restarts
		if want[s.Name] != line {
			t.Errorf("svls -j: %s is %q, want %q", s.Name, line, want[s.Name])
		}
		if (s.State == "up") != (s.Pid != 0) {
			t.Errorf("svls -j: %s state %s with pid %d", s.Name, s.State, s.Pid)
		}
		delete(want, s.Name)
	}
	for name := range want {
		t.Errorf("svls -j did not list %s", name)
	}

	table := runTool(t, scan, svlsBin, scan)
	lines := strings.Split(strings.TrimSuffix(table.stdout, "\n"), "\n")
	if table.code != 0 || len(lines) != 6 || !strings.HasPrefix(lines[0], "SERVICE  STATE") {
		t.Errorf("svls = %+v", table)
	}
	// Columns line up: every row has its state where the header has STATE.
	col := strings.Index(lines[0], "STATE")
	for _, l := range lines[1:] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("svls row not aligned with header:\n%s\n%s", lines[0], l)
		}
	}
}

// TestSvlsHistoryLive runs ichi's supervise tool on a service whose first
// ./run exits 3 and on one whose first ./run is killed by SIGKILL (each
// ./run after the first stays up): svls shows both restarted once, with how
// ./run last ended, which only ichi's supervisor publishes (supervise/ichi).
func TestSvlsHistoryLive(t *testing.T) {
	svlsBin, supervise := testutil.ToolLink(t, "svls"), testutil.ToolLink(t, "supervise")
	scan := t.TempDir()
	again := "if [ -e ran ]; then exec sleep 300; fi\n: > ran\n"
	dirs := []string{
		serviceDir(t, scan, "code", again+"exit 3"),
		serviceDir(t, scan, "killed", again+"kill -KILL $$"),
	}
	for _, dir := range dirs {
		startSupervisor(t, supervise, dir)
	}
	for _, dir := range dirs {
		waitFor(t, "restart of "+dir, func() bool {
			st, err := svstatus.ReadStatus(dir)
			h, ok, _ := svstatus.ReadHistory(dir)
			return err == nil && st.Up() && ok && h.Restarts == 1
		})
	}

	table := runTool(t, scan, svlsBin, scan)
	lines := strings.Split(strings.TrimSuffix(table.stdout, "\n"), "\n")
	if table.code != 0 || len(lines) != 3 {
		t.Fatalf("svls = %+v", table)
	}
	// SERVICE STATE PID TIME READY RESTARTS EXIT
	wantRows := []string{"code up PID T no 1 3", "killed up PID T no 1 SIGKILL"}
	for i, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 7 {
			t.Errorf("svls row %q: %d columns, want 7", l, len(f))
			continue
		}
		f[2], f[3] = "PID", "T"
		if got := strings.Join(f, " "); got != wantRows[i] {
			t.Errorf("svls row %q, want %q", got, wantRows[i])
		}
	}

	r := runTool(t, scan, svlsBin, "-j", scan)
	var got []Service
	if err := json.Unmarshal([]byte(r.stdout), &got); r.code != 0 || err != nil || len(got) != 2 {
		t.Fatalf("svls -j = %+v (%v)", r, err)
	}
	wantExits := []Exit{{Code: 3}, {Code: 128 + 9, Signal: "SIGKILL"}}
	for i, s := range got {
		if s.Restarts == nil || *s.Restarts != 1 || s.LastExit == nil || *s.LastExit != wantExits[i] {
			t.Errorf("svls -j: %s restarts %v, last exit %v; want 1, %v", s.Name, s.Restarts, s.LastExit, wantExits[i])
		}
	}
}
