package stamp

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ichi-init/ichi/internal/tai64n"
)

// clock returns a now function that starts at start and advances by step on
// each call.
func clock(start time.Time, step time.Duration) func() time.Time {
	t := start.Add(-step)
	return func() time.Time {
		t = t.Add(step)
		return t
	}
}

func TestStamp(t *testing.T) {
	start := time.Unix(1700000000, 123456789)
	label := func(i int) string { return tai64n.Format(start.Add(time.Duration(i) * time.Microsecond)) }
	long := strings.Repeat("x", 3*readSize/2)
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"one line", "hello\n", label(0) + " hello\n"},
		{"empty lines", "\n\n", label(0) + " \n" + label(1) + " \n"},
		{"partial last line", "a\nb", label(0) + " a\n" + label(1) + " b"},
		{"one byte", "x", label(0) + " x"},
		{"binary", "\x00\xff\r\n", label(0) + " \x00\xff\r\n"},
		{"longer than a block", long + "\nz\n", label(0) + " " + long + "\n" + label(1) + " z\n"},
	}
	for _, tt := range tests {
		for _, chunked := range []bool{false, true} {
			var r = strings.NewReader(tt.in)
			var out bytes.Buffer
			var code int
			if chunked {
				code = Stamp(iotest.OneByteReader(r), &out, clock(start, time.Microsecond))
			} else {
				code = Stamp(r, &out, clock(start, time.Microsecond))
			}
			if code != 0 || out.String() != tt.want {
				t.Errorf("%s (one byte at a time: %v): code %d, got %.200q, want %.200q", tt.name, chunked, code, out.String(), tt.want)
			}
		}
	}
}

func TestStampErrors(t *testing.T) {
	if code := Stamp(iotest.ErrReader(iotest.ErrTimeout), &bytes.Buffer{}, time.Now); code != 111 {
		t.Errorf("read error: code %d, want 111", code)
	}
	w := failingWriter{}
	if code := Stamp(strings.NewReader("a\n"), w, time.Now); code != 111 {
		t.Errorf("write error: code %d, want 111", code)
	}
}

type failingWriter struct{}

func (failingWriter) Write(p []byte) (int, error) { return 0, iotest.ErrTimeout }

func TestLocalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"label", "@400000006553f10a075bcd15 x\n", "2023-11-14 22:13:20.123456789 x\n"},
		{"label alone", "@400000006553f10a075bcd15\n", "2023-11-14 22:13:20.123456789\n"},
		{"no label", "plain line\n", "plain line\n"},
		{"label later in line", "x @400000006553f10a075bcd15\n", "x @400000006553f10a075bcd15\n"},
		{"partial line", "abc", "abc"},
		{"label cut by end of input", "a\n@400000006553f10a", "a\n"},
		{"label then end of input", "@400000006553f10a075bcd15", ""},
		{"label then partial rest", "@400000006553f10a075bcd15 rest", "2023-11-14 22:13:20.123456789 rest"},
		{"nanoseconds beyond a second", "@400000006553f10affffffff x\n", "2023-11-14 22:13:20.4294967295 x\n"},
		{"short label", "@4000000000000000000003e8 x\n", "1969-12-31 23:59:50.000001000 x\n"},
		{"leading zeros", "@0000400000006553f10a075bcd15 x\n", "2023-11-14 22:13:20.123456789 x\n"},
		{"year before 0", "@3ff000000000000000000000 x\n", "18446744073566840195-01-25 20:11:34.000000000 x\n"},
		{"upper case ends the label", "@400000006553F10A075BCD15 x\n", "@400000006553F10A075BCD15 x\n"},
		{"at alone", "@\n", "@\n"},
		{"two lines", "@400000006553f10a075bcd15 a\n@400000006553f10b075bcd15 b\n",
			"2023-11-14 22:13:20.123456789 a\n2023-11-14 22:13:21.123456789 b\n"},
	}
	for _, tt := range tests {
		for _, chunked := range []bool{false, true} {
			var out bytes.Buffer
			r := strings.NewReader(tt.in)
			var code int
			if chunked {
				code = Localize(iotest.OneByteReader(r), &out, time.UTC)
			} else {
				code = Localize(r, &out, time.UTC)
			}
			if code != 0 || out.String() != tt.want {
				t.Errorf("%s (one byte at a time: %v): code %d, got %q, want %q", tt.name, chunked, code, out.String(), tt.want)
			}
		}
	}
}

func TestLocation(t *testing.T) {
	when := time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC)
	winter := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		tz             string
		set            bool
		summer, winter int // offsets in seconds
	}{
		{"", true, 0, 0},
		{"UTC", true, 0, 0},
		{"Europe/Berlin", true, 7200, 3600},
		{":Europe/Berlin", true, 7200, 3600},
		{"/usr/share/zoneinfo/Asia/Tokyo", true, 9 * 3600, 9 * 3600},
		{"JST-9", true, 9 * 3600, 9 * 3600},
		{"CET-1CEST,M3.5.0,M10.5.0/3", true, 7200, 3600},
		{"<+0330>-3:30", true, 12600, 12600},
		{"No/Such_Zone", true, 0, 0},
		{"garbage", true, 0, 0},
		{"ABC-1DEF,garbage", true, 0, 0},
	}
	for _, tt := range tests {
		loc := Location(tt.tz, tt.set)
		_, s := when.In(loc).Zone()
		_, w := winter.In(loc).Zone()
		if s != tt.summer || w != tt.winter {
			t.Errorf("Location(%q): offsets %d/%d, want %d/%d", tt.tz, s, w, tt.summer, tt.winter)
		}
	}
}

func TestAppendPadded(t *testing.T) {
	tests := []struct {
		n     uint64
		width int
		want  string
	}{
		{0, 1, "0"}, {0, 2, "00"}, {7, 2, "07"}, {123, 2, "123"}, {5, 9, "000000005"},
		{4294967295, 9, "4294967295"}, {18446744073709551615, 1, "18446744073709551615"},
	}
	for _, tt := range tests {
		if got := string(appendPadded(nil, tt.n, tt.width)); got != tt.want {
			t.Errorf("appendPadded(%d, %d) = %q, want %q", tt.n, tt.width, got, tt.want)
		}
	}
}

// FuzzLocalize checks that the output does not depend on how the input is
// cut into reads, and that input without a label at the start of any line
// comes out unchanged.
func FuzzLocalize(f *testing.F) {
	f.Add([]byte("@400000006553f10a075bcd15 x\nplain\n@\n@4000"))
	f.Add([]byte("@3ff000000000000000000000 x\n"))
	f.Add([]byte("a\n@ffffffffffffffffffffffffffffffff\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var whole, bytewise bytes.Buffer
		Localize(bytes.NewReader(in), &whole, time.UTC)
		Localize(iotest.OneByteReader(bytes.NewReader(in)), &bytewise, time.UTC)
		if !bytes.Equal(whole.Bytes(), bytewise.Bytes()) {
			t.Fatalf("%q: %q read whole, %q read byte by byte", in, whole.Bytes(), bytewise.Bytes())
		}
		if !bytes.Contains(append([]byte("\n"), in...), []byte("\n@")) && !bytes.Equal(whole.Bytes(), in) {
			t.Fatalf("%q has no label but came out as %q", in, whole.Bytes())
		}
	})
}

// FuzzStamp checks that stamping and removing the labels gives back the
// input, however it is cut into reads.
func FuzzStamp(f *testing.F) {
	f.Add([]byte("a\nb"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		Stamp(iotest.HalfReader(bytes.NewReader(in)), &out, clock(time.Unix(1e9, 0), time.Millisecond))
		var back []byte
		for _, line := range bytes.SplitAfter(out.Bytes(), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			if len(line) < tai64n.LabelLen+1 || line[tai64n.LabelLen] != ' ' {
				t.Fatalf("%q: output line %q has no label", in, line)
			}
			if _, err := tai64n.Parse(line); err != nil {
				t.Fatalf("%q: output line %q: %v", in, line, err)
			}
			back = append(back, line[tai64n.LabelLen+1:]...)
		}
		if !bytes.Equal(back, in) {
			t.Fatalf("%q came back as %q", in, back)
		}
	})
}
