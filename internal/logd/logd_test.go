package logd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ichi-init/ichi/internal/testutil"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, line string
		want          bool
	}{
		{"hello", "hello", true},
		{"hello", "hello world", false},
		{"hello", "hell", false},
		{"", "", true},
		{"", "x", false},
		{"*", "", true},
		{"*", "anything at all", true},
		{"named[*]: Cleaned *", "named[135]: Cleaned cache of 3121 RRs.", true},
		{"named[*]: Cleaned *", "named[135]: Flushed cache", false},
		{"* fatal: *", "@400000003b4a39c23294b13c fatal: out of memory", true},
		{"*b", "abab", false}, // no backtracking: the star stops at the first b
		{"*b*", "abab", true},
		{"a*c", "abc", true},
		{"a*c", "abcc", false},
		{"**", "**", true},
		{"**", "x*", true},
		{"**", "xy", false},
		{"x*", "x", true},
		{"*x", "", false},
	}
	for _, c := range cases {
		if got := match(c.pattern, []byte(c.line)); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pattern, c.line, got, c.want)
		}
	}
}

// matchSpec is multilog's match written as plainly as possible, one byte at
// a time, for the fuzz test to hold match to.
func matchSpec(pattern string, line []byte) bool {
	p, i := 0, 0
	for {
		if p == len(pattern) {
			return i == len(line)
		}
		c := pattern[p]
		p++
		if c == '*' {
			if p == len(pattern) {
				return true
			}
			for {
				if i == len(line) {
					return false
				}
				if line[i] == pattern[p] {
					break
				}
				i++
			}
			continue
		}
		if i == len(line) || line[i] != c {
			return false
		}
		i++
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("named[*]: Cleaned *", "named[135]: Cleaned cache of 3121 RRs.")
	f.Add("*b", "abab")
	f.Add("**x*", "a*bx")
	f.Fuzz(func(t *testing.T, pattern, line string) {
		if got, want := match(pattern, []byte(line)), matchSpec(pattern, []byte(line)); got != want {
			t.Fatalf("match(%q, %q) = %v, want %v", pattern, line, got, want)
		}
	})
}

func TestParseScript(t *testing.T) {
	cases := []struct {
		args  []string
		stamp bool
		dirs  []DirSpec
	}{
		{nil, false, nil},
		{[]string{"t", "./main"}, true, []DirSpec{{Path: "./main", Size: DefaultSize, Num: DefaultNum}}},
		{[]string{"./a", "t"}, false, []DirSpec{{Path: "./a", Size: DefaultSize, Num: DefaultNum}}},
		{[]string{"s1", "n1", "/a", "s99999999999", "n5", "!gzip", "./b", "sx", "n", "!", "./c"}, false, []DirSpec{
			{Path: "/a", Size: MinSize, Num: MinNum},
			{Path: "./b", Size: MaxSize, Num: 5, Processor: "gzip", HasProcessor: true},
			{Path: "./c", Size: MinSize, Num: MinNum, Processor: "", HasProcessor: true},
		}},
		{[]string{"s18446744073709551617", "./wrap"}, false, []DirSpec{{Path: "./wrap", Size: MinSize, Num: DefaultNum}}}, // 2^64+1 wraps to 1
		{[]string{"", "x", "T", "./d"}, false, []DirSpec{{Path: "./d", Size: DefaultSize, Num: DefaultNum}}},
	}
	for _, c := range cases {
		s, err := ParseScript(c.args)
		if err != nil {
			t.Fatalf("ParseScript(%q): %v", c.args, err)
		}
		if s.Timestamp != c.stamp {
			t.Errorf("ParseScript(%q).Timestamp = %v", c.args, s.Timestamp)
		}
		if fmt.Sprint(s.Dirs) != fmt.Sprint(c.dirs) {
			t.Errorf("ParseScript(%q).Dirs = %+v, want %+v", c.args, s.Dirs, c.dirs)
		}
	}
	if _, err := ParseScript([]string{"./a\x00b"}); err == nil {
		t.Error("ParseScript accepted a NUL byte")
	}
}

func FuzzParseScript(f *testing.F) {
	f.Add("t s4096 n3 !cat ./main -* +x* e =st")
	f.Fuzz(func(t *testing.T, words string) {
		s, err := ParseScript(strings.Split(words, " "))
		if err != nil {
			if !strings.Contains(words, "\x00") {
				t.Fatalf("error without a NUL byte: %v", err)
			}
			return
		}
		for _, d := range s.Dirs {
			if d.Size < MinSize || d.Size > MaxSize || d.Num < MinNum || (d.Path[0] != '.' && d.Path[0] != '/') {
				t.Fatalf("bad directory %+v", d)
			}
		}
	})
}

// newTestLogger makes a logger on a temporary directory with short pauses.
func newTestLogger(t *testing.T, stderr *syncBuffer, args ...string) (*Logger, string) {
	t.Helper()
	base := t.TempDir()
	s, err := ParseScript(args)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(s, Options{Dir: base, Stderr: stderr, Pause: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return l, base
}

// syncBuffer is safe for the logger's goroutine and the test at once.
type syncBuffer = testutil.SyncBuffer

// logged returns every line in dir's old files (in name order) and
// current, in order.
func logged(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "@*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	names = append(names, filepath.Join(dir, "current"))
	var lines []string
	for _, n := range names {
		b, err := os.ReadFile(n)
		if errors.Is(err, fs.ErrNotExist) {
			continue // renamed or not made yet by a logger still running
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 {
			lines = append(lines, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
		}
	}
	return lines
}

func numbered(from, to int) []string {
	var l []string
	for i := from; i < to; i++ {
		l = append(l, fmt.Sprintf("line %06d of the test, padded to look like a log line", i))
	}
	return l
}

func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d lines logged, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("line %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// TestRunPipe drives a logger on an os.Pipe as the scanner does: Rotate
// while it waits, Stop in the middle of a line, from other goroutines.
func TestRunPipe(t *testing.T) {
	var stderr syncBuffer
	l, base := newTestLogger(t, &stderr, "s4096", "n100", "./main")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	done := make(chan error)
	go func() { done <- l.Run(pr) }()
	want := numbered(0, 300)
	pw.WriteString(strings.Join(want[:100], "\n") + "\n")
	dir := filepath.Join(base, "main")
	waitUntil(t, func() bool { return len(logged(t, dir)) == 100 })
	l.Rotate()
	waitUntil(t, func() bool { fi, err := os.Stat(filepath.Join(dir, "current")); return err == nil && fi.Size() == 0 })
	pw.WriteString(strings.Join(want[100:], "\n") + "\npartial")
	waitUntil(t, func() bool { return len(logged(t, dir)) == 300 })
	l.Stop()
	select {
	case err := <-done:
		t.Fatalf("Run returned before the line ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	pw.WriteString(" line\nnot read\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sameLines(t, logged(t, dir), append(want, "partial line"))
	pw.Close()
	left, _ := readAllFile(pr)
	if string(left) != "not read\n" {
		t.Errorf("left in the pipe: %q", left)
	}
	fi, err := os.Stat(filepath.Join(dir, "current"))
	if err != nil || fi.Mode().Perm() != 0o744 {
		t.Errorf("current after Run: %v %v, want mode 744", fi, err)
	}
	if stderr.String() != "" {
		t.Errorf("stderr: %q", stderr.String())
	}
}

func readAllFile(f *os.File) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.Bytes(), err
}

// TestDrain: Drain reads what is there, ends a partial line, and returns
// although the pipe still has a writer.
func TestDrain(t *testing.T) {
	for _, blocking := range []bool{false, true} {
		t.Run(fmt.Sprintf("blocking=%v", blocking), func(t *testing.T) {
			l, base := newTestLogger(t, &syncBuffer{}, "./main")
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			defer pw.Close()
			if blocking {
				pr.Fd() // takes the file out of the poller, as handing it to a child does
			}
			pw.WriteString("one\ntwo\nthree")
			done := make(chan error)
			go func() { done <- l.Run(pr) }()
			waitUntil(t, func() bool { return len(logged(t, filepath.Join(base, "main"))) == 2 })
			l.Drain()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			sameLines(t, logged(t, filepath.Join(base, "main")), []string{"one", "two", "three"})
		})
	}
}

// TestIdleHoldsNoBuffer: a logger waiting for input holds no buffer; the
// cost of a quiet logger is its structs and descriptors.
func TestIdleHoldsNoBuffer(t *testing.T) {
	l, base := newTestLogger(t, &syncBuffer{}, "t", "./main")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	done := make(chan error)
	go func() { done <- l.Run(pr) }()
	pw.WriteString("hello\n")
	waitUntil(t, func() bool { return len(logged(t, filepath.Join(base, "main"))) == 1 })
	l.mu.Lock()
	held := l.dirs[0].buf.buf != nil
	l.mu.Unlock()
	if held {
		t.Error("an idle logger holds an output buffer")
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSecondRunFails: Run once; a second Run and a Close after it are
// harmless.
func TestSecondRunFails(t *testing.T) {
	l, _ := newTestLogger(t, &syncBuffer{}, "./main")
	if err := l.Run(strings.NewReader("x\n")); err != nil {
		t.Fatal(err)
	}
	if err := l.Run(strings.NewReader("y\n")); err == nil {
		t.Error("second Run succeeded")
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
}

// TestDiskFull fills a small tmpfs: the logger says so, pauses and retries,
// and once space is freed every line is there, in order, once.
func TestDiskFull(t *testing.T) {
	testutil.NeedRoot(t)
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=512k"); err != nil {
		testutil.Missing(t, "mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 480<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	s, err := ParseScript([]string{"t", "s16384", "n1000", filepath.Join(mnt, "log")})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(s, Options{Stderr: &stderr, Pause: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	done := make(chan error)
	go func() { done <- l.Run(pr) }()
	want := numbered(0, 2000) // about 160 KB with labels: more than is free
	go func() {
		pw.WriteString(strings.Join(want, "\n") + "\n")
		pw.Close()
	}()
	waitUntil(t, func() bool { return strings.Contains(stderr.String(), "pausing: out of disk space") })
	os.Remove(filler)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Run did not finish after space was freed; stderr: %.500s", stderr.String())
	}
	got := logged(t, filepath.Join(mnt, "log"))
	for i := range got {
		got[i] = strings.TrimPrefix(got[i][25:], " ")
	}
	sameLines(t, got, want)
	msg := "multilog: warning: unable to write to " + filepath.Join(mnt, "log") + "/current, pausing: out of disk space\n"
	if !strings.HasPrefix(stderr.String(), msg) {
		t.Errorf("stderr: %q, want it to start with %q", stderr.String(), msg)
	}
}

// TestKilledMidStream kills ichi's multilog with SIGKILL while a writer
// keeps writing, and starts another on the same pipe: every line written
// after the kill is logged, once, in order, after the lines logged before.
func TestKilledMidStream(t *testing.T) {
	ml := testutil.ToolLink(t, "multilog")
	work := t.TempDir()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close() // held by the test, as the scanner holds it
	start := func() *exec.Cmd {
		cmd := exec.Command(ml, "s4096", "n1000", "./main")
		cmd.Dir = work
		cmd.Stdin = pr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	dir := filepath.Join(work, "main")
	first := start()
	want := numbered(0, 3000)
	pw.WriteString(strings.Join(want[:1000], "\n") + "\n")
	waitUntil(t, func() bool { return len(logged(t, dir)) == 1000 })
	first.Process.Kill()
	first.Wait()
	pw.WriteString(strings.Join(want[1000:2000], "\n") + "\n")
	second := start()
	pw.WriteString(strings.Join(want[2000:], "\n") + "\n")
	pw.Close()
	if err := second.Wait(); err != nil {
		t.Fatal(err)
	}
	sameLines(t, logged(t, dir), want)
	u, _ := filepath.Glob(filepath.Join(dir, "@*.u"))
	if len(u) != 1 {
		t.Errorf("%d .u files after the kill, want 1 (the killed one's current)", len(u))
	}
}

// TestProcessorFails: a processor that fails is run again, on the same
// input, until it succeeds; nothing is lost.
func TestProcessorFails(t *testing.T) {
	var stderr syncBuffer
	l, base := newTestLogger(t, &stderr, "s4096", "!test -e ok || { touch ok; exit 1; }; cat", "./main")
	want := numbered(0, 200)
	if err := l.Run(strings.NewReader(strings.Join(want, "\n") + "\n")); err != nil {
		t.Fatal(err)
	}
	sameLines(t, logged(t, filepath.Join(base, "main")), want)
	if !strings.Contains(stderr.String(), "multilog: warning: processor failed in ./main, pausing\n") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

// TestRunProcessorHook: init runs processors through its reaper.
func TestRunProcessorHook(t *testing.T) {
	base := t.TempDir()
	s, _ := ParseScript([]string{"s4096", "!cat", "./main"})
	var calls int
	l, err := New(s, Options{Dir: base, RunProcessor: func(p Processor) (syscall.WaitStatus, error) {
		calls++
		if len(p.Files) != 6 || p.Files[3] != nil || p.Dir != filepath.Join(base, "main") {
			t.Errorf("processor %+v", p)
		}
		return runProcessor(p)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Run(strings.NewReader(strings.Join(numbered(0, 200), "\n") + "\n")); err != nil {
		t.Fatal(err)
	}
	if calls == 0 {
		t.Error("RunProcessor was not called")
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
