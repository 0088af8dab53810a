package logd_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/testutil"
)

// The differential tests run daemontools' multilog and ichi's on the same
// input and script, each in a directory of its own, and compare what they
// leave: every file's name (TAI64N labels replaced by @LABEL, order kept),
// mode and contents (line labels replaced), and what they print on stderr.
//
// Input comes from a regular file, so both read it in the same 1024-byte
// pieces (multilog's rotation points depend on them).

var labelRE = regexp.MustCompile(`@[0-9a-f]{24}`)

// snapshot describes the tree under root, labels normalised.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		name := labelRE.ReplaceAllString(rel, "@LABEL")
		if d.IsDir() {
			fmt.Fprintf(&b, "%s/ %o\n", name, fi.Mode().Perm())
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %o %d\n%s\n", name, fi.Mode().Perm(), len(data), labelRE.ReplaceAll(data, []byte("@LABEL")))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

type result struct {
	tree   string
	stderr string
	code   int
}

// runOne runs prog with args in a fresh directory (work/name), with
// stdin read from a file holding input.
func runOne(t *testing.T, prog, work string, args []string, input []byte, prepare func(dir string)) result {
	t.Helper()
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(work)
	}
	in := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(in, input, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(prog, args...)
	cmd.Dir = work
	cmd.Stdin = f
	cmd.Stderr = &stderr
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{snapshot(t, work), labelRE.ReplaceAllString(stderr.String(), "@LABEL"), code}
}

// compare runs both multilogs and fails on any difference.
func compare(t *testing.T, args []string, input []byte, prepare func(dir string)) result {
	t.Helper()
	ref := testutil.Need(t, "multilog")
	ichi := testutil.ToolLink(t, "multilog")
	base := t.TempDir()
	want := runOne(t, ref, filepath.Join(base, "daemontools"), args, input, prepare)
	got := runOne(t, ichi, filepath.Join(base, "ichi"), args, input, prepare)
	if want.code != got.code {
		t.Errorf("exit code: daemontools %d, ichi %d", want.code, got.code)
	}
	if want.stderr != got.stderr {
		t.Errorf("stderr differs:\ndaemontools:\n%s\nichi:\n%s", clip(want.stderr), clip(got.stderr))
	}
	if want.tree != got.tree {
		t.Errorf("files differ (script %q):\n%s", args, firstDiff(want.tree, got.tree))
	}
	return got
}

func clip(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}

// firstDiff shows the first differing line of two snapshots with context.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\ndaemontools: %.300q\nichi:        %.300q", i+1, x, y)
		}
	}
	return "(same lines)"
}

// genLines makes n deterministic log lines of 40 to 300 bytes, with words
// that the selection patterns below look for. No hex letters are used
// where patterns look, since labels carry them.
func genLines(seed uint64, n int, lengths ...int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	words := []string{"STAT", "ok", "fatal:", "warning:", "[42]", "x=1", "named[135]:", "Cleaned", "cache", "of", "3121", "RRs.", "*", "zz"}
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		want := 40 + r.IntN(261)
		if len(lengths) > 0 {
			want = lengths[r.IntN(len(lengths))]
		}
		start := b.Len()
		for b.Len()-start < want {
			if b.Len() > start {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		b.Truncate(start + want)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestDiffActions(t *testing.T) {
	lines := genLines(1, 400)
	long := genLines(2, 300, 0, 1, 973, 974, 975, 999, 1000, 1001, 1025, 2047, 5000)
	cases := []struct {
		name  string
		args  []string
		input []byte
	}{
		{"plain", []string{"./main"}, lines},
		{"timestamp", []string{"t", "./main"}, lines},
		{"empty input", []string{"t", "./main"}, nil},
		{"partial last line", []string{"t", "./main"}, append(append([]byte{}, lines[:500]...), "no newline at the end"...)},
		{"only empty lines", []string{"t", "./main"}, []byte("\n\n\n")},
		{"rotation n3", []string{"t", "s4096", "n3", "./main"}, genLines(3, 2000)},
		{"rotation n2 no t", []string{"s4096", "n2", "./main"}, genLines(4, 1500)},
		{"rotation default n", []string{"s5000", "./main"}, genLines(5, 2000)},
		{"long lines t", []string{"t", "s4096", "n100", "./main"}, long},
		{"long lines", []string{"s4096", "n100", "./main"}, long},
		{"long lines big s", []string{"t", "s50000", "n100", "./main"}, long},
		{"selection", []string{"t", "s4096", "n50", "./all", "-*", "+* STAT*", "./stat", "+* fatal:*", "-*zz*", "./fatal", "+*", "-*[*]*", "./nobracket"}, genLines(6, 1500)},
		{"patterns", []string{"-*", "+STAT", "+ok*", "+*zz", "+named[*]: Cleaned *", "./m", "+*", "-**", "./n"}, []byte("STAT\nSTAT \nok\nok zz\nzz\nnamed[135]: Cleaned cache of 3121 RRs.\nnamed[1]: Cleaned x\n*x\n**\nq*\n")},
		{"alert", []string{"t", "e", "-*", "+* fatal:*", "e", "./m"}, long},
		{"status", []string{"-*", "+STAT*", "=st1", "+*", "=st2", "./m"}, genLines(7, 300)},
		{"status long line", []string{"t", "=st"}, long[:20000]},
		{"processor", []string{"s4096", "n4", "!tr a-y b-z", "./p"}, genLines(8, 1000)},
		{"processor state", []string{"t", "s4096", "n100", "!cat; (cat <&4; echo rotated) >&5", "./p"}, genLines(9, 800)},
		{"empty processor", []string{"s4096", "n5", "!", "./p"}, genLines(10, 600)},
		{"several dirs", []string{"t", "s4096", "n3", "./a", "s8000", "n5", "./b", "!sed s/x/y/", "s6000", "./c", "-*", "./none"}, genLines(11, 1500)},
		{"ignored actions", []string{"./m", "t", "xyz", "", "S100", "N2", "e", "tt"}, lines[:3000]},
		{"odd numbers", []string{"s1", "n0", "./a", "s99999999999", "nfoo", "./b", "sx", "./c"}, genLines(12, 700)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			compare(t, c.args, c.input, nil)
		})
	}
}

// TestDiffRestart covers what multilog finds when it starts: a current it
// finished (continued), a current from a crash (kept as .u), and a processor
// interrupted before or after it finished (processed kept as .s, or
// previous kept as .u).
func TestDiffRestart(t *testing.T) {
	first := genLines(20, 200)
	cases := []struct {
		name    string
		prepare func(dir string)
	}{
		{"finished", func(dir string) { mkLog(t, dir, "current", first[:3000], 0o744) }},
		{"finished over size", func(dir string) { mkLog(t, dir, "current", genLines(21, 400), 0o744) }},
		{"crashed", func(dir string) { mkLog(t, dir, "current", first[:3000], 0o644) }},
		{"processed finished", func(dir string) {
			mkLog(t, dir, "current", first[:100], 0o644)
			mkLog(t, dir, "previous", first[:200], 0o744)
			mkLog(t, dir, "processed", first[:300], 0o744)
			mkLog(t, dir, "state", []byte("old state\n"), 0o644)
			mkLog(t, dir, "newstate", []byte("new state\n"), 0o644)
		}},
		{"processor interrupted", func(dir string) {
			mkLog(t, dir, "previous", first[:200], 0o744)
			mkLog(t, dir, "processed", first[:300], 0o644)
		}},
		{"too many old files", func(dir string) {
			for i := range 6 {
				mkLog(t, dir, fmt.Sprintf("@40000000000000%02x00000000.s", i), []byte("old\n"), 0o744)
			}
			mkLog(t, dir, "current", first[:100], 0o644)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			compare(t, []string{"t", "s4096", "n4", "./main"}, genLines(22, 100), c.prepare)
		})
	}
}

func mkLog(t *testing.T, work, name string, data []byte, mode os.FileMode) {
	t.Helper()
	dir := filepath.Join(work, "main")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// TestDiffStartErrors: what cannot be opened stops both at once, with the
// same message and status.
func TestDiffStartErrors(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		prepare func(dir string)
	}{
		{"not a directory", []string{"t", "./file"}, func(dir string) { os.WriteFile(filepath.Join(dir, "file"), nil, 0o644) }},
		{"status file", []string{"=nodir/st", "./main"}, nil},
		{"missing parent", []string{"./a/b/c"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := compare(t, c.args, []byte("x\n"), c.prepare)
			if r.code != 111 {
				t.Errorf("exit code %d, want 111", r.code)
			}
		})
	}
}

// TestDiffLock: a directory locked by one multilog (either one) stops the
// other with "unable to lock directory".
func TestDiffLock(t *testing.T) {
	ref := testutil.Need(t, "multilog")
	ichi := testutil.ToolLink(t, "multilog")
	for _, holder := range []string{ref, ichi} {
		for _, second := range []string{ref, ichi} {
			dir := t.TempDir()
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			h := exec.Command(holder, "./main")
			h.Dir = dir
			h.Stdin = pr
			if err := h.Start(); err != nil {
				t.Fatal(err)
			}
			pr.Close()
			// current is made after the lock is taken.
			waitFor(t, "current", func() bool { _, err := os.Stat(filepath.Join(dir, "main/current")); return err == nil })
			cmd := exec.Command(second, "./main")
			cmd.Dir = dir
			cmd.Stdin = strings.NewReader("x\n")
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 111 {
				t.Errorf("%s while %s holds the lock: %v, want exit 111", second, holder, err)
			}
			if want := "multilog: fatal: unable to lock directory ./main: temporary failure\n"; string(out) != want {
				t.Errorf("%s: message %q, want %q", second, out, want)
			}
			pw.Close()
			if err := h.Wait(); err != nil {
				t.Errorf("%s holding the lock: %v", holder, err)
			}
		}
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// live runs a multilog on a pipe the test writes to in steps, for the
// signal tests: step functions write and signal, and the tree and the
// bytes left unread in the pipe are returned.
func live(t *testing.T, prog string, args []string, steps func(w *os.File, p *os.Process, dir string)) (tree, rest string) {
	t.Helper()
	dir := t.TempDir()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	cmd.Stdin = pr
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	steps(pw, cmd.Process, dir)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v (%s)", prog, err, stderr.String())
	}
	pw.Close()
	left, err := readAll(pr)
	if err != nil {
		t.Fatal(err)
	}
	return snapshot(t, dir), string(left)
}

func readAll(f *os.File) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.Bytes(), err
}

// currentHas waits until dir/main/current holds n bytes.
func currentHas(t *testing.T, dir string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d bytes in current", n), func() bool {
		fi, err := os.Stat(filepath.Join(dir, "main/current"))
		return err == nil && fi.Size() >= int64(n)
	})
}

func TestDiffSignals(t *testing.T) {
	ref := testutil.Need(t, "multilog")
	ichi := testutil.ToolLink(t, "multilog")
	cases := []struct {
		name  string
		args  []string
		steps func(t *testing.T) func(w *os.File, p *os.Process, dir string)
	}{
		{"SIGTERM mid-line", []string{"./main"}, func(t *testing.T) func(*os.File, *os.Process, string) {
			return func(w *os.File, p *os.Process, dir string) {
				w.WriteString("one\ntwo\npart")
				currentHas(t, dir, 8)
				p.Signal(syscall.SIGTERM)
				time.Sleep(100 * time.Millisecond)
				w.WriteString("ial line\nleft in the pipe\n")
			}
		}},
		{"SIGTERM at line end", []string{"t", "./main"}, func(t *testing.T) func(*os.File, *os.Process, string) {
			return func(w *os.File, p *os.Process, dir string) {
				w.WriteString("one\ntwo\n")
				currentHas(t, dir, 2*30)
				p.Signal(syscall.SIGTERM)
				time.Sleep(100 * time.Millisecond)
				w.WriteString("left\n")
			}
		}},
		{"SIGALRM", []string{"t", "n5", "./main"}, func(t *testing.T) func(*os.File, *os.Process, string) {
			return func(w *os.File, p *os.Process, dir string) {
				w.WriteString("one\ntwo\n")
				currentHas(t, dir, 2*30)
				p.Signal(syscall.SIGALRM)
				waitFor(t, "rotation", func() bool { m, _ := filepath.Glob(filepath.Join(dir, "main/@*.s")); return len(m) == 1 })
				p.Signal(syscall.SIGALRM) // current is empty: nothing happens
				time.Sleep(100 * time.Millisecond)
				w.WriteString("three\n")
				currentHas(t, dir, 32)
				w.Close()
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantTree, wantRest := live(t, ref, c.args, c.steps(t))
			gotTree, gotRest := live(t, ichi, c.args, c.steps(t))
			if wantTree != gotTree {
				t.Errorf("files differ:\n%s", firstDiff(wantTree, gotTree))
			}
			if wantRest != gotRest {
				t.Errorf("left in the pipe: daemontools %q, ichi %q", wantRest, gotRest)
			}
		})
	}
}

// sortedLines is a helper for tests that compare sets of lines.
