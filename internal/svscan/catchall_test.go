package svscan

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPrefixedCatchAll(t *testing.T) {
	dir := t.TempDir()
	console := &syncBuffer{}
	writeService(t, filepath.Join(dir, "alpha"), `echo one; echo two >&2; printf 'no newline'; exec sleep 1000`)
	writeService(t, filepath.Join(dir, "beta"), `i=0; while [ $i -lt 200 ]; do echo "beta line $i"; i=$((i+1)); done; exec sleep 1000`)
	writeService(t, filepath.Join(dir, "gamma"), `echo to the log; echo oops >&2; exec sleep 1000`)
	writeFile(t, filepath.Join(dir, "gamma/log/multilog"), "./main\n", 0o644)
	r := startScanner(t, dir, Config{CatchAll: CatchAll{Console: console, Prefix: true}, Logf: nil})
	waitFor(t, 5*time.Second, "output", func() bool {
		return strings.Contains(console.String(), "beta: beta line 199\n") && strings.Contains(console.String(), "alpha: two\n") &&
			strings.Contains(console.String(), "gamma: oops\n")
	})
	if strings.Contains(console.String(), "to the log") {
		t.Error("the stdout of a logged service reached the catch-all")
	}
	fmtMsg := "hello from init\n"
	io.WriteString(r.sc.CatchAll(), fmtMsg)
	r.stop(t) // drains: the unfinished line comes out with a newline
	out := console.String()
	for _, want := range []string{"alpha: one\n", "alpha: two\n", "alpha: no newline\n", fmtMsg} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	// Lines of different services never mix: each line is whole.
	n := 0
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if strings.HasPrefix(line, "beta: ") {
			if !strings.HasPrefix(line, "beta: beta line ") {
				t.Errorf("mixed line %q", line)
			}
			n++
		}
	}
	if n != 200 {
		t.Errorf("%d beta lines, want 200", n)
	}
	// After the drain, messages go to the console directly.
	io.WriteString(r.sc.CatchAll(), "late\n")
	if !strings.HasSuffix(console.String(), "late\n") {
		t.Error("a message after DrainLoggers was lost")
	}
}

func TestUnprefixedCatchAllSharesOnePipe(t *testing.T) {
	dir := t.TempDir()
	console := &syncBuffer{}
	writeService(t, filepath.Join(dir, "a"), `echo from a; exec sleep 1000`)
	writeService(t, filepath.Join(dir, "b"), `echo from b >&2; exec sleep 1000`)
	r := startScanner(t, dir, Config{CatchAll: CatchAll{Console: console}})
	waitFor(t, 5*time.Second, "output", func() bool {
		s := console.String()
		return strings.Contains(s, "from a\n") && strings.Contains(s, "from b\n")
	})
	// Both services got the same pipe as stdout: one pipe, no goroutine
	// per service.
	stdout := func(name string) string {
		st, _ := r.status(name)
		l, _ := os.Readlink("/proc/" + strconv.Itoa(st.Service.Pid) + "/fd/1")
		return l
	}
	// Read while ./run is not in the middle of its exec.
	var la, lb string
	waitFor(t, 2*time.Second, "stdout links", func() bool {
		la, lb = stdout("a"), stdout("b")
		return la != "" && lb != ""
	})
	if la != lb || !strings.HasPrefix(la, "pipe:") {
		t.Errorf("stdout of a %q, of b %q: want the same pipe", la, lb)
	}
}

// TestPrefixerLines checks the line splitting of prefixers, including lines
// longer than one atomic write and lines split across reads.
func TestPrefixerLines(t *testing.T) {
	long := strings.Repeat("x", 9000)
	room := maxPrefixedLine - len("s: ") - 1 // one atomic write: prefix, piece, newline
	cut := "s: " + long[:room] + "\ns: " + long[room:2*room] + "\ns: " + long[2*room:] + "\n"
	tests := []struct {
		name   string
		chunks []string
		want   string
	}{
		{"simple", []string{"a\nb\n"}, "s: a\ns: b\n"},
		{"split", []string{"he", "llo\nwor", "ld\n"}, "s: hello\ns: world\n"},
		{"empty lines", []string{"\n\n"}, "s: \ns: \n"},
		{"unfinished", []string{"tail"}, "s: tail\n"},
		{"long", []string{long + "\n"}, cut},
		{"long in pieces", []string{long[:5000], long[5000:] + "\n"}, cut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p := &prefixer{prefix: "s: ", out: &out}
			for _, c := range tt.chunks {
				p.lines([]byte(c))
			}
			p.flush()
			if got := out.String(); got != tt.want {
				t.Errorf("got %d bytes %.60q...\nwant %d bytes %.60q...", len(got), got, len(tt.want), tt.want)
			}
		})
	}
}

// FuzzPrefixer: whatever the input and however it is cut into reads, the
// output is whole prefixed lines, each short enough for one atomic write, and
// removing the prefixes gives back the input.
func FuzzPrefixer(f *testing.F) {
	f.Add([]byte("a\nbc\n"), uint8(1))
	f.Add([]byte(strings.Repeat("y", 5000)+"\nz"), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		var out bytes.Buffer
		p := &prefixer{prefix: "svc: ", out: &writesOf{&out, t}}
		step := int(cut) + 1
		for i := 0; i < len(in); i += step {
			p.lines(in[i:min(i+step, len(in))])
		}
		p.flush()
		var back []byte
		rest := out.Bytes()
		for len(rest) > 0 {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 || !bytes.HasPrefix(rest, []byte("svc: ")) {
				t.Fatalf("output is not whole prefixed lines: %q", out.Bytes())
			}
			back = append(back, rest[len("svc: "):i]...)
			back = append(back, '\n')
			rest = rest[i+1:]
		}
		// A long line comes back cut into several: join the pieces the
		// way they were cut before comparing.
		want := append([]byte(nil), in...)
		if len(want) > 0 && want[len(want)-1] != '\n' {
			want = append(want, '\n')
		}
		if !bytes.Equal(stripCuts(back, p.room()), stripCuts(want, p.room())) {
			t.Fatalf("input %q came back as %q", in, back)
		}
	})
}

// writesOf checks that every write is one whole line of at most
// maxPrefixedLine bytes.
type writesOf struct {
	w io.Writer
	t *testing.T
}

func (w *writesOf) Write(p []byte) (int, error) {
	if len(p) > maxPrefixedLine || bytes.IndexByte(p, '\n') != len(p)-1 {
		w.t.Fatalf("write of %d bytes is not one line within %d bytes: %q", len(p), maxPrefixedLine, p)
	}
	return w.w.Write(p)
}

// stripCuts removes the newline after every line piece exactly room bytes
// long, undoing the cutting of long lines.
func stripCuts(b []byte, room int) []byte {
	var out []byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return append(out, b...)
		}
		out = append(out, b[:i]...)
		if i != room {
			out = append(out, '\n')
		}
		b = b[i+1:]
	}
	return out
}
