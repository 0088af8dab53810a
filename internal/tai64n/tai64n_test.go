package tai64n

import (
	"testing"
	"time"
)

func TestFormatKnownValues(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		// Unix 0 is 2^62 + 10 in daemontools' labels.
		{time.Unix(0, 0), "@400000000000000a00000000"},
		{time.Unix(1700000000, 123456789), "@400000006553f10a075bcd15"},
	}
	for _, tt := range tests {
		if got := Format(tt.t); got != tt.want {
			t.Errorf("Format(%v) = %s, want %s", tt.t, got, tt.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, ts := range []time.Time{time.Unix(0, 0), time.Unix(1, 999999999), time.Now()} {
		got, err := Parse([]byte(Format(ts) + " trailing text"))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(ts) {
			t.Errorf("Parse(Format(%v)) = %v", ts, got)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"", "@4000", "4000000065537f0a075bcd15x", "@4000000065537f0a075bcd1g", "@4000000065537f0affffffff"} {
		if _, err := Parse([]byte(s)); err == nil {
			t.Errorf("Parse(%q) succeeded", s)
		}
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 64)
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() { _ = Append(buf[:0], now) }); n != 0 {
		t.Errorf("Append allocates %v times", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("@400000000000000a00000000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := Parse(b)
		if err != nil {
			return
		}
		if got := Format(ts); got[1:] != lower(string(b[1:LabelLen])) {
			t.Errorf("Format(Parse(%q)) = %q", b, got)
		}
	})
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'F' {
			b[i] = c + 32
		}
	}
	return string(b)
}
