package svctl

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/svstatus"
	"golang.org/x/sys/unix"
)

// layout makes, under root, the directories the error cases need: a
// service with a fake supervisor ("sup"), one whose supervise/ has FIFOs
// nobody reads ("dead"), one without supervise/ ("bare"), and a plain file
// ("file").
func layout(t *testing.T, root string) *fakeSupervisor {
	t.Helper()
	fake := newFake(t, filepath.Join(root, "sup"))
	dead := filepath.Join(root, "dead", "supervise")
	os.MkdirAll(dead, 0o700)
	unix.Mkfifo(filepath.Join(dead, "control"), 0o600)
	unix.Mkfifo(filepath.Join(dead, "ok"), 0o600)
	os.WriteFile(filepath.Join(dead, "status"), make([]byte, 18), 0o644)
	os.MkdirAll(filepath.Join(root, "bare"), 0o755)
	os.WriteFile(filepath.Join(root, "file"), nil, 0o644)
	return fake
}

// TestSvcDifferential runs Debian's svc and ichi's with the same arguments
// against the same directories and compares the bytes each writes to
// supervise/control, its messages and its exit status.
func TestSvcDifferential(t *testing.T) {
	svc := tools(t, "svc")
	root := t.TempDir()
	fake := layout(t, root)
	tests := [][]string{
		{"-u", "sup"},
		{"-d", "sup"},
		{"-udopchaitkx", "sup"},
		{"-uudxu", "sup"},
		{"-k", "-t", "-k", "-h", "sup"},
		{"-x", "-d", "sup", "sup"},
		{"sup"},
		{},
		{"-u"},
		{"-z", "sup"},
		{"-uz", "sup"},
		{"-u-", "sup"},
		{"--", "-u", "sup"},
		{"-u", "--", "sup"},
		{"-u", "-", "sup"},
		{"-u", "missing", "sup"},
		{"-u", "dead", "sup"},
		{"-u", "bare", "sup"},
		{"-u", "file", "sup"},
		{"-u", "file/x", "sup"},
		{"-u", root + "/sup"},
		{"-a", "sup", "missing", "dead", "bare", "sup"},
	}
	for _, args := range tests {
		want := runTool(t, root, svc.ref, args...)
		wantBytes := fake.commands(t)
		got := runTool(t, root, svc.ichi, args...)
		gotBytes := fake.commands(t)
		if got != want || gotBytes != wantBytes {
			t.Errorf("svc %q:\n ichi:   %+v wrote %q\n debian: %+v wrote %q", args, got, gotBytes, want, wantBytes)
		}
	}
}

// TestSvokDifferential compares svok's status and messages.
func TestSvokDifferential(t *testing.T) {
	svok := tools(t, "svok")
	root := t.TempDir()
	layout(t, root)
	for _, args := range [][]string{
		{}, {"sup"}, {"sup", "missing"}, {"missing"}, {"dead"}, {"bare"},
		{"file"}, {"file/x"}, {root + "/sup"}, {""},
	} {
		svok.compare(t, root, args...)
	}
}

// TestSvstatErrors compares svstat on directories it cannot report on.
func TestSvstatErrors(t *testing.T) {
	svstat := tools(t, "svstat")
	root := t.TempDir()
	layout(t, root)
	short := newFake(t, filepath.Join(root, "short"))
	os.WriteFile(filepath.Join(short.dir, "supervise", "status"), make([]byte, 17), 0o644)
	newFake(t, filepath.Join(root, "nostatus"))
	dirStatus := newFake(t, filepath.Join(root, "dirstatus"))
	os.Mkdir(filepath.Join(dirStatus.dir, "supervise", "status"), 0o755)
	noOK := filepath.Join(root, "nook", "supervise")
	os.MkdirAll(noOK, 0o700)
	full := newFake(t, filepath.Join(root, "full"))
	writeStatus(t, full.dir, svstatus.Status{Since: time.Unix(1e9, 0), Pid: 77, Paused: true, Want: 'd'}, 18)
	for _, args := range [][]string{
		{},
		{"missing"},
		{"file"},
		{"file/x"},
		{"bare"},
		{"dead"},
		{"short"},
		{"nostatus"},
		{"dirstatus"},
		{"nook"},
		{"missing", "bare", "dead", "short", "nostatus", "file"},
		{"--", "-x"},
	} {
		svstat.compare(t, root, args...)
	}
	// A status that cannot be read repeats the previous directory's.
	compareSeconds(t, svstat, root, "full", "dirstatus", "short", "dirstatus")
}

// TestSvstatStatusFiles writes every combination of the fields svstat
// reads, in daemontools' 18-byte layout and runit's 20-byte one, and
// compares the lines of Debian's svstat and ichi's.
func TestSvstatStatusFiles(t *testing.T) {
	svstat := tools(t, "svstat")
	root := t.TempDir()
	dir := filepath.Join(root, "svc")
	newFake(t, dir)
	now := time.Now()
	n := 0
	for _, size := range []int{svstatus.DaemontoolsSize, svstatus.RunitSize} {
		for _, pid := range []int{0, 1, 4242, 0x7fffffff, 0xffffffff} {
			for _, since := range []time.Time{now.Add(-3 * time.Hour), now.Add(time.Hour), time.Unix(0, 0), now.Add(-100 * 365 * 24 * time.Hour)} {
				for _, paused := range []bool{false, true} {
					for _, want := range []byte{'u', 'd', 0, 'x'} {
						for _, down := range []bool{false, true} {
							if want == 'x' && (since != now.Add(-3*time.Hour) || pid > 4242) {
								continue // keep the table small
							}
							st := svstatus.Status{Since: since, Pid: pid, Paused: paused, Want: want, Term: paused, State: svstatus.RunState(pid % 3)}
							writeStatus(t, dir, st, size)
							if down {
								os.WriteFile(filepath.Join(dir, "down"), nil, 0o644)
							} else {
								os.Remove(filepath.Join(dir, "down"))
							}
							compareSeconds(t, svstat, root, "svc")
							n++
						}
					}
				}
			}
		}
	}
	t.Logf("%d status files compared", n)
}

// compareSeconds compares both svstats. Seconds tick between two runs, so
// ichi's runs before and after Debian's, and one of them must match.
func compareSeconds(t *testing.T, p pair, dir string, args ...string) {
	t.Helper()
	for try := 0; ; try++ {
		before := runTool(t, dir, p.ichi, args...)
		want := runTool(t, dir, p.ref, args...)
		after := runTool(t, dir, p.ichi, args...)
		if before == want || after == want {
			return
		}
		if try == 2 {
			t.Errorf("svstat %q:\n ichi:   %+v\n debian: %+v", args, after, want)
			return
		}
	}
}
