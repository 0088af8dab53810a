package sgetopt

import (
	"fmt"
	"strings"
	"testing"
)

// run parses argv with opts and returns what Next returned, in a compact
// form ("m=100 n ?" ...), the index of the first operand, and the complaints.
func run(argv []string, opts string) (string, int, string) {
	var stderr strings.Builder
	p := New(argv, opts, &stderr)
	var got []string
	for {
		c := p.Next()
		if c == Done {
			break
		}
		switch {
		case c == Bad:
			got = append(got, "?")
		case p.Arg != "" || strings.Contains(opts, string(rune(c))+":"):
			got = append(got, fmt.Sprintf("%c=%s", c, p.Arg))
		default:
			got = append(got, string(rune(c)))
		}
		if c == Bad {
			break
		}
	}
	return strings.Join(got, " "), p.Index, stderr.String()
}

func TestParser(t *testing.T) {
	const opts = "nNxXm:t:"
	tests := []struct {
		argv   []string
		want   string
		index  int
		stderr string
	}{
		{[]string{"p"}, "", 1, ""},
		{[]string{"p", "file", "-n"}, "", 1, ""},
		{[]string{"p", "-n", "file"}, "n", 2, ""},
		{[]string{"p", "-nx", "-X", "file"}, "n x X", 3, ""},
		{[]string{"p", "-m100", "prog"}, "m=100", 2, ""},
		{[]string{"p", "-m", "100", "prog"}, "m=100", 3, ""},
		{[]string{"p", "-m", "", "prog"}, "m=", 3, ""},
		{[]string{"p", "-m", "-n", "prog"}, "m=-n", 3, ""},
		{[]string{"p", "-nm", "5", "prog"}, "n m=5", 3, ""},
		{[]string{"p", "--", "-n"}, "", 2, ""},
		{[]string{"p", "--junk", "-n"}, "", 2, ""},
		{[]string{"p", "-", "-n"}, "", 1, ""},
		{[]string{"p", "-n", "-", "x"}, "n", 2, ""},
		{[]string{"/usr/bin/p", "-Z"}, "?", 1, "p: illegal option -- Z\n"},
		{[]string{"p", "-nZ", "x"}, "n ?", 1, "p: illegal option -- Z\n"},
		{[]string{"p", "-:"}, "?", 1, "p: illegal option -- :\n"},
		{[]string{"p", "-m"}, "?", 2, "p: option requires an argument -- m\n"},
		{[]string{"p", "-nm"}, "n ?", 2, "p: option requires an argument -- m\n"},
	}
	for _, tt := range tests {
		got, index, stderr := run(tt.argv, opts)
		if got != tt.want || index != tt.index || stderr != tt.stderr {
			t.Errorf("%q: got %q index %d stderr %q; want %q index %d stderr %q",
				tt.argv, got, index, stderr, tt.want, tt.index, tt.stderr)
		}
	}
}

func FuzzParser(f *testing.F) {
	f.Add("-nx\x00-m\x00100\x00prog")
	f.Add("--\x00-n")
	f.Add("-m")
	f.Fuzz(func(t *testing.T, joined string) {
		argv := append([]string{"prog"}, strings.Split(joined, "\x00")...)
		p := New(argv, "nNxXm:", nil)
		for i := 0; ; i++ {
			if i > len(joined)+2 {
				t.Fatalf("%q: parser does not terminate", argv)
			}
			c := p.Next()
			if c == Done || c == Bad {
				break
			}
		}
		if p.Index < 1 || p.Index > len(argv) {
			t.Fatalf("%q: index %d out of range", argv, p.Index)
		}
	})
}
