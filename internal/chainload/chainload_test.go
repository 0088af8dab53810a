package chainload

import (
	"slices"
	"testing"
)

func TestEnvApply(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		change  func(e *Env)
		want    []string
	}{
		{"append", []string{"A=1"}, func(e *Env) { e.Set("B", "2") }, []string{"A=1", "B=2"}},
		{"replace moves the last into the hole", []string{"A=1", "UID=5", "B=2"},
			func(e *Env) { e.Set("GID", "1"); e.Set("UID", "1") },
			[]string{"A=1", "GID=1", "B=2", "UID=1"}},
		{"unset", []string{"A=1", "B=2", "C=3"}, func(e *Env) { e.Unset("A") }, []string{"C=3", "B=2"}},
		{"unset missing", []string{"A=1"}, func(e *Env) { e.Unset("Z") }, []string{"A=1"}},
		{"only the first duplicate goes", []string{"A=1", "A=2"}, func(e *Env) { e.Set("A", "3") }, []string{"A=2", "A=3"}},
		{"prefix is not a match", []string{"AB=1", "A"}, func(e *Env) { e.Set("A", "2") }, []string{"AB=1", "A", "A=2"}},
		{"name with '='", []string{"A=1", "B=2"}, func(e *Env) { e.Set("A=B", "x") }, []string{"B=2", "A=B=x"}},
		{"empty value", []string{}, func(e *Env) { e.Set("A", "") }, []string{"A="}},
	}
	for _, tt := range tests {
		var e Env
		tt.change(&e)
		orig := slices.Clone(tt.environ)
		if got := e.Apply(tt.environ); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
		if !slices.Equal(orig, tt.environ) {
			t.Errorf("%s: Apply modified its argument", tt.name)
		}
	}
}

func TestFirstLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"value\n", "value"},
		{"value  \t \nsecond", "value"},
		{"a\x00b\x00", "a\nb\n"},
		{"  lead", "  lead"},
		{"\n", ""},
		{" \t", ""},
		{"x\x00 ", "x\n"},
	}
	for _, tt := range tests {
		if got := string(firstLine([]byte(tt.in))); got != tt.want {
			t.Errorf("firstLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScanUlong(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"", 0, true}, {"12345", 12345, true},
		{"18446744073709551615", 18446744073709551615, true},
		{"18446744073709551616", 0, true},                     // wraps, as scan_ulong does
		{"99999999999999999999999", 200376420520689663, true}, // modulo 2^64
		{"12x", 0, false}, {"-1", 0, false}, {" 1", 0, false}, {"=", 0, false},
	}
	for _, tt := range tests {
		got, ok := scanUlong(tt.in)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("scanUlong(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
