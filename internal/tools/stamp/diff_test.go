package stamp_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/tai64n"
	"github.com/ichi-init/ichi/internal/testutil"
)

// result is what one run of a tool did.
type result struct {
	stdout, stderr []byte
	status         string // "exit N" or "signal NAME"
}

// runTool runs prog with stdin as its input and env as its environment.
func runTool(t *testing.T, prog string, stdin []byte, env []string) result {
	t.Helper()
	cmd := exec.Command(prog)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return result{out.Bytes(), errOut.Bytes(), status(t, err)}
}

func status(t *testing.T, err error) string {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit 0"
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return "signal " + ws.Signal().String()
		}
		return fmt.Sprintf("exit %d", ws.ExitStatus())
	default:
		t.Fatalf("run: %v", err)
		return ""
	}
}

// zones are TZ settings tried against the C library; nil means unset.
var zones = []*string{
	nil, ptr(""), ptr("UTC"), ptr("Europe/Berlin"), ptr(":America/New_York"),
	ptr("/usr/share/zoneinfo/Asia/Tokyo"), ptr("Australia/Lord_Howe"), ptr("America/St_Johns"),
	ptr("Asia/Kolkata"), ptr("JST-9"), ptr("CET-1CEST,M3.5.0,M10.5.0/3"), ptr("<+0330>-3:30"),
	ptr("NZST-12NZDT,M9.5.0,M4.1.0/3"), ptr("IST-5:30"), ptr("EST5EDT"), ptr("No/Such_Zone"),
	ptr("garbage"), ptr(":"),
}

func ptr(s string) *string { return &s }

// posixRules reports whether tz is a POSIX zone string with DST rules
// rather than the name of a zone file.
func posixRules(tz string) bool {
	return strings.Contains(tz, ",")
}

func envWith(tz *string) []string {
	env := []string{"PATH=/usr/bin:/bin"}
	if tz != nil {
		env = append(env, "TZ="+*tz)
	}
	return env
}

func zoneName(tz *string) string {
	if tz == nil {
		return "unset"
	}
	return fmt.Sprintf("%q", *tz)
}

// labelsInput returns lines with labels whose dates localtime(3) can
// represent: around now, over the last and next centuries, and far out,
// with nanoseconds in and beyond range.
//
// "Far out" is two billion years into the past, and five million years
// into the future (the C library computes DST rules for later years with
// an int that overflows, and ichi does not copy that). With posixRules, the
// zone is a POSIX string whose rules the C library applies to years before
// 1970 as if they were 1970, which ichi does not copy either; then no date
// before 1970 is generated.
func labelsInput(seed uint64, posixRules bool) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	line := func(secs int64, nanos uint32, rest string) {
		fmt.Fprintf(&b, "@%016x%08x%s\n", uint64(secs)+1<<62+10, nanos, rest)
	}
	now := time.Now().Unix()
	for i := range 3000 {
		var secs int64
		switch i % 5 {
		case 0:
			secs = now + rng.Int64N(1e6) - 5e5
		case 1:
			secs = rng.Int64N(8e9) - 4e9 // 1843 to 2096
		case 2:
			secs = rng.Int64N(2e12) - 1e12
		case 3:
			if i%2 == 0 {
				secs = -rng.Int64N(65e15) // two billion years back
			} else {
				secs = rng.Int64N(15e13) // five million years on
			}
		case 4:
			secs = rng.Int64N(1e8) + 1e9 // DST transitions of recent decades
		}
		if posixRules && secs < 0 {
			secs = -secs % 15e13
		}
		nanos := rng.Uint32N(1e9)
		if i%17 == 0 {
			nanos = rng.Uint32()
		}
		line(secs, nanos, []string{" text", "", "\tx", "x y z"}[i%4])
	}
	// Labels that are not 24 digits, text that is not a label.
	b.WriteString("@0000400000006553f10a075bcd15 more digits\n")
	b.WriteString("@ffff400000006553f10a075bcd15 wrapped digits\n")
	if !posixRules {
		b.WriteString("@3ff000000000000000000000 before year 0\n")
		b.WriteString("@3ffffff00000000000000000 before year 0\n")
	}
	b.WriteString("no label @400000006553f10a075bcd15\n\n \n")
	b.WriteString("@400000006553f10a075bcd15")
	b.WriteString("Z label ended by an upper-case letter\n")
	return b.Bytes()
}

// TestTai64nlocalMatchesDaemontools runs Debian's tai64nlocal and ichi's on
// the same labels under many TZ settings and wants the same bytes.
func TestTai64nlocalMatchesDaemontools(t *testing.T) {
	ref := testutil.Need(t, "tai64nlocal")
	ours := testutil.ToolLink(t, "tai64nlocal")
	inputs := map[string][]byte{
		"partial line":     []byte("@400000006553f10a075bcd15 a\nno newline at the end"),
		"partial label":    []byte("a\n@400000006553f10a07"),
		"label at the end": []byte("a\n@400000006553f10a075bcd15"),
		"empty":            nil,
		"big":              bytes.Repeat([]byte("@400000006553f10a075bcd15 a line of a log\nplain line\n"), 20000),
	}
	for _, tz := range zones {
		inputs["labels"] = labelsInput(1, tz != nil && posixRules(*tz))
		for name, in := range inputs {
			env := envWith(tz)
			want := runTool(t, ref, in, env)
			got := runTool(t, ours, in, env)
			if want.status != got.status || !bytes.Equal(want.stdout, got.stdout) || !bytes.Equal(want.stderr, got.stderr) {
				t.Errorf("TZ %s, input %s: daemontools %s, ichi %s\n%s", zoneName(tz), name, want.status, got.status, firstDiff(want.stdout, got.stdout))
			}
		}
	}
}

// TestTai64nlocalWhereDaemontoolsCrashes covers labels whose date
// localtime(3) cannot represent: the original dies of SIGSEGV; ichi copies
// the label through and goes on.
func TestTai64nlocalWhereDaemontoolsCrashes(t *testing.T) {
	ref := testutil.Need(t, "tai64nlocal")
	ours := testutil.ToolLink(t, "tai64nlocal")
	for _, label := range []string{"@", "@4000", "@4000000000000000", "@7fffffffffffffff00000000", "@ffffffffffffffffffffffffffffffff", "@400000006553F10A075BCD15"} {
		in := []byte("first\n" + label + " x\nlast\n")
		env := envWith(ptr("UTC"))
		want := runTool(t, ref, in, env)
		if want.status != "signal segmentation fault" {
			t.Errorf("%q: daemontools' tai64nlocal %s; expected it to crash", label, want.status)
		}
		got := runTool(t, ours, in, env)
		if got.status != "exit 0" || !bytes.Equal(got.stdout, in) {
			t.Errorf("%q: ichi %s, output %q; want exit 0 and the input unchanged", label, got.status, got.stdout)
		}
	}
}

func firstDiff(a, b []byte) string {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			start := bytes.LastIndexByte(a[:i], '\n') + 1
			endA := min(len(a), i+60)
			endB := min(len(b), i+60)
			return fmt.Sprintf("first difference at byte %d:\n  daemontools: %q\n  ichi:        %q", i, a[start:endA], b[start:endB])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(a), len(b))
}

// TestTai64nMatchesDaemontools runs Debian's tai64n and ichi's on the same
// input and wants the same text after the labels, and labels of the time of
// the run.
func TestTai64nMatchesDaemontools(t *testing.T) {
	ref := testutil.Need(t, "tai64n")
	ours := testutil.ToolLink(t, "tai64n")
	long := strings.Repeat("y", 200000)
	inputs := map[string]string{
		"lines":        "one\ntwo\n\nthree\n",
		"partial line": "one\nno newline",
		"one byte":     "x",
		"empty":        "",
		"binary":       "\x00\x01\xff\r\n\n\x00",
		"long line":    "a\n" + long + "\nb\n",
		"many lines":   strings.Repeat("a line of some log output\n", 50000),
	}
	for name, in := range inputs {
		before := time.Now().Add(-time.Second)
		want := runTool(t, ref, []byte(in), envWith(nil))
		got := runTool(t, ours, []byte(in), envWith(nil))
		after := time.Now().Add(time.Second)
		if want.status != got.status || !bytes.Equal(want.stderr, got.stderr) {
			t.Errorf("%s: daemontools %s %q, ichi %s %q", name, want.status, want.stderr, got.status, got.stderr)
		}
		w, err := unstamp(want.stdout, before, after)
		if err != nil {
			t.Fatalf("%s: daemontools' output: %v", name, err)
		}
		g, err := unstamp(got.stdout, before, after)
		if err != nil {
			t.Errorf("%s: ichi's output: %v", name, err)
			continue
		}
		if !bytes.Equal(w, g) || w != nil && !bytes.Equal(w, []byte(in)) {
			t.Errorf("%s: text differs: %s", name, firstDiff(w, g))
		}
		if len(want.stdout) != len(got.stdout) {
			t.Errorf("%s: output lengths %d (daemontools) and %d (ichi)", name, len(want.stdout), len(got.stdout))
		}
	}
}

// unstamp checks that every line of out starts with a label between before
// and after and a space, and returns the lines without them.
func unstamp(out []byte, before, after time.Time) ([]byte, error) {
	var text []byte
	for _, line := range bytes.SplitAfter(out, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		ts, err := tai64n.Parse(line)
		if err != nil || len(line) <= tai64n.LabelLen || line[tai64n.LabelLen] != ' ' {
			return nil, fmt.Errorf("line %.60q has no label", line)
		}
		if ts.Before(before) || ts.After(after) {
			return nil, fmt.Errorf("label of %v outside the run (%v to %v)", ts, before, after)
		}
		text = append(text, line[tai64n.LabelLen+1:]...)
	}
	return text, nil
}

// TestTai64nStampsOnArrival writes lines into both tai64n's through a pipe
// with pauses between them, and wants each line out before the next goes
// in, labelled with its own time of arrival.
func TestTai64nStampsOnArrival(t *testing.T) {
	for _, prog := range []string{testutil.Need(t, "tai64n"), testutil.ToolLink(t, "tai64n")} {
		cmd := exec.Command(prog)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		outPipe, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		out := bufio.NewReader(outPipe)
		var labels []time.Time
		for i := range 3 {
			sent := time.Now()
			fmt.Fprintf(in, "line %d\n", i)
			lines := make(chan string, 1)
			go func() {
				l, _ := out.ReadString('\n')
				lines <- l
			}()
			var line string
			select {
			case line = <-lines:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("%s: line %d not written within 10s of arriving", prog, i)
			}
			ts, err := tai64n.Parse([]byte(line))
			if err != nil || line[tai64n.LabelLen:] != fmt.Sprintf(" line %d\n", i) {
				t.Fatalf("%s: got %q", prog, line)
			}
			if ts.Before(sent.Add(-time.Millisecond)) {
				t.Errorf("%s: line %d labelled %v, before it was sent at %v", prog, i, ts, sent)
			}
			labels = append(labels, ts)
			time.Sleep(150 * time.Millisecond)
		}
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("%s: %v", prog, err)
		}
		for i := 1; i < len(labels); i++ {
			if labels[i].Sub(labels[i-1]) < 100*time.Millisecond {
				t.Errorf("%s: labels %v and %v are closer than the pause between the lines", prog, labels[i-1], labels[i])
			}
		}
	}
}

// TestStampToolsErrors compares what both implementations do when standard
// input cannot be read or standard output has no reader.
func TestStampToolsErrors(t *testing.T) {
	for _, tool := range []string{"tai64n", "tai64nlocal"} {
		ref := testutil.Need(t, tool)
		ours := testutil.ToolLink(t, tool)
		for _, c := range []struct {
			name string
			run  func(prog string) result
		}{
			{"stdin is a directory", func(prog string) result {
				dir, err := os.Open(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				defer dir.Close()
				cmd := exec.Command(prog)
				cmd.Stdin = dir
				var errOut bytes.Buffer
				cmd.Stderr = &errOut
				return result{nil, errOut.Bytes(), status(t, cmd.Run())}
			}},
			{"stdout reader gone", func(prog string) result {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				r.Close()
				cmd := exec.Command(prog)
				cmd.Stdin = strings.NewReader("a\nb\n")
				cmd.Stdout = w
				var errOut bytes.Buffer
				cmd.Stderr = &errOut
				err = cmd.Run()
				w.Close()
				return result{nil, errOut.Bytes(), status(t, err)}
			}},
		} {
			want, got := c.run(ref), c.run(ours)
			if want.status != got.status || !bytes.Equal(want.stderr, got.stderr) {
				t.Errorf("%s, %s: daemontools %s %q, ichi %s %q", tool, c.name, want.status, want.stderr, got.status, got.stderr)
			}
		}
	}
}
