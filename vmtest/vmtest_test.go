package vmtest

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/tai64n"
)

func TestConsoleMatchIsExpectLike(t *testing.T) {
	c := newConsole()
	c.Write([]byte("boot\r\nstep one\r\nstep two\r\npart"))
	re := regexp.MustCompile(`step \w+`)
	line, ok, _ := c.match(re)
	if !ok || line != "step one" {
		t.Fatalf("first match %q %v", line, ok)
	}
	line, ok, _ = c.match(re)
	if !ok || line != "step two" {
		t.Fatalf("second match %q %v", line, ok)
	}
	_, ok, changed := c.match(re)
	if ok {
		t.Fatal("a third match of two lines")
	}
	c.Write([]byte("ial step three\n"))
	select {
	case <-changed:
	default:
		t.Fatal("a write did not signal a change")
	}
	if line, ok, _ = c.match(re); !ok || line != "partial step three" {
		t.Fatalf("match across writes %q %v", line, ok)
	}
}

func TestConsolePanic(t *testing.T) {
	c := newConsole()
	c.Write([]byte("early\nboot line\n[ 1.0] Kernel pa"))
	if c.panicked() {
		t.Fatal("panic seen before the marker was complete")
	}
	c.Write([]byte("nic - not syncing: Attempted to kill init!\n"))
	if !c.panicked() {
		t.Fatal("panic split over two writes not seen")
	}
	for i := range 50 {
		fmt.Fprintf(c, "[ 1.%d] trace line %d\n", i, i)
	}
	got := c.aroundPanic(1, 3)
	want := "boot line\n[ 1.0] Kernel panic - not syncing: Attempted to kill init!\n[ 1.0] trace line 0\n[ 1.1] trace line 1"
	if got != want {
		t.Errorf("aroundPanic = %q, want %q", got, want)
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"", 3, ""},
		{"one", 1, "one"},
	}
	for _, tt := range tests {
		if got := lastLines(tt.in, tt.n); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestParseLog(t *testing.T) {
	t0 := time.Unix(1700000000, 123456789)
	in := tai64n.Format(t0) + " hello world\n" + "no label here\n" + tai64n.Format(t0.Add(time.Second)) + " \n"
	got := ParseLog([]byte(in))
	want := []LogLine{{t0, "hello world"}, {time.Time{}, "no label here"}, {t0.Add(time.Second), ""}}
	if len(got) != len(want) {
		t.Fatalf("got %d lines: %+v", len(got), got)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Text != want[i].Text {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if s := got[0].String(); s != "2023-11-14 22:13:20.123456789 hello world" {
		t.Errorf("String() = %q", s)
	}
}

func FuzzParseLog(f *testing.F) {
	f.Add([]byte("@400000006553f1000000000a x\n"))
	f.Add([]byte("@4000\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, l := range ParseLog(b) {
			if strings.Contains(l.Text, "\n") {
				t.Fatalf("line with a newline: %q", l.Text)
			}
		}
	})
}

func TestParseForward(t *testing.T) {
	tests := []struct {
		in   string
		want Forward
		bad  bool
	}{
		{"8080:80", Forward{8080, 80}, false},
		{"25", Forward{25, 25}, false},
		{"0:80", Forward{}, true},
		{"80:70000", Forward{}, true},
		{"x:1", Forward{}, true},
		{"", Forward{}, true},
	}
	for _, tt := range tests {
		got, err := ParseForward(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseForward(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func TestMachineCommand(t *testing.T) {
	m := Machine{Kernel: "/k", Initrd: "/i", Append: []string{"ip=dhcp"}, Forwards: []Forward{{1234, 80}}, AgentSocket: "/s"}
	prog, args := m.Command()
	if prog != DefaultQEMU {
		t.Errorf("program %s", prog)
	}
	joined := strings.Join(args, " ")
	for _, want := range []string{"-accel tcg", "-no-reboot", "-kernel /k", "-initrd /i",
		"console=ttyS0 panic=-1 quiet ip=dhcp", "hostfwd=tcp:127.0.0.1:1234-:80", "path=/s,server=on,wait=off",
		"name=ichi.agent", "-serial stdio"} {
		if !strings.Contains(joined, want) {
			t.Errorf("command lacks %q: %s", want, joined)
		}
	}
	if strings.Contains(joined, "kvm") {
		t.Errorf("command asks for KVM: %s", joined)
	}
	m.Interactive = true
	if _, args := m.Command(); !slices.Contains(args, "mon:stdio") {
		t.Errorf("interactive command lacks mon:stdio: %v", args)
	}
}

func TestDefaultAppend(t *testing.T) {
	if got := DefaultAppend(nil); !slices.Equal(got, []string{"ip=dhcp"}) {
		t.Errorf("DefaultAppend(nil) = %v", got)
	}
	for _, words := range [][]string{{"ip=10.0.2.15::10.0.2.2:255.255.255.0"}, {"rdinit=/x"}} {
		if got := DefaultAppend(words); got != nil {
			t.Errorf("DefaultAppend(%v) = %v", words, got)
		}
	}
}

func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	w := &prefixWriter{w: &b, prefix: "vm: "}
	w.Write([]byte("one\r\ntw"))
	w.Write([]byte("o\nthree"))
	if b.String() != "vm: one\nvm: two\n" {
		t.Errorf("got %q", b.String())
	}
}
