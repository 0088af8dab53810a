// Package tai64n writes and reads TAI64N labels exactly as daemontools 0.76
// does: "@" followed by 24 lower-case hexadecimal digits, 16 for the seconds
// (2^62 + 10 + Unix seconds) and 8 for the nanoseconds.
//
// daemontools applies a fixed 10-second TAI-UTC offset and no leap-second
// table; skalibs (s6) applies the table and differs by 27 seconds today.
// ichi follows daemontools so that its tai64nlocal and the original read each
// other's logs identically.
package tai64n

import (
	"errors"
	"fmt"
	"time"
)

// LabelLen is the length of a label: '@' and 24 hex digits.
const LabelLen = 25

// offset is what daemontools adds to Unix seconds: 2^62 + 10.
const offset = uint64(1)<<62 + 10

const hexDigits = "0123456789abcdef"

// Append appends the label of t to buf and returns the extended buffer. It
// does not allocate when buf has room.
func Append(buf []byte, t time.Time) []byte {
	secs := uint64(t.Unix()) + offset
	nanos := uint32(t.Nanosecond())
	var b [LabelLen]byte
	b[0] = '@'
	for i := 16; i >= 1; i-- {
		b[i] = hexDigits[secs&0xf]
		secs >>= 4
	}
	for i := 24; i >= 17; i-- {
		b[i] = hexDigits[nanos&0xf]
		nanos >>= 4
	}
	return append(buf, b[:]...)
}

// Format returns the label of t.
func Format(t time.Time) string {
	return string(Append(make([]byte, 0, LabelLen), t))
}

// ErrNotLabel is returned by Parse for text that is not a TAI64N label.
var ErrNotLabel = errors.New("not a TAI64N label")

// Parse reads the label at the start of s (which may continue after it) and
// returns the time it names. It accepts upper- and lower-case digits, as
// tai64nlocal does.
func Parse(s []byte) (time.Time, error) {
	if len(s) < LabelLen || s[0] != '@' {
		return time.Time{}, ErrNotLabel
	}
	var secs uint64
	var nanos uint32
	for i := 1; i < LabelLen; i++ {
		d, ok := hexValue(s[i])
		if !ok {
			return time.Time{}, fmt.Errorf("%w: %q", ErrNotLabel, s[:LabelLen])
		}
		if i <= 16 {
			secs = secs<<4 | uint64(d)
		} else {
			nanos = nanos<<4 | uint32(d)
		}
	}
	if nanos > 999999999 {
		return time.Time{}, fmt.Errorf("%w: nanoseconds out of range in %q", ErrNotLabel, s[:LabelLen])
	}
	return time.Unix(int64(secs-offset), int64(nanos)), nil
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
