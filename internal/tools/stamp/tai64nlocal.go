package stamp

import (
	"bytes"
	"io"
	"math"
	"os"
	"time"
)

// Tai64nlocalMain is tai64nlocal. It takes no options and ignores its
// arguments, as the original does.
func Tai64nlocalMain(argv []string) int {
	return Localize(os.Stdin, os.Stdout, Location(os.LookupEnv("TZ")))
}

// Localize copies r to w, replacing the TAI64N label at the start of each
// line with the local time in loc, and returns the exit status: 0 at the end
// of input, 111 when reading or writing fails.
func Localize(r io.Reader, w io.Writer, loc *time.Location) int {
	l := localizer{loc: loc, out: make([]byte, 0, flushSize+readSize+64)}
	in := make([]byte, readSize)
	for {
		n, rerr := r.Read(in)
		if !l.write(w, in[:n]) {
			return 111
		}
		if rerr == io.EOF {
			// A label cut short by the end of input is dropped, as the
			// original drops it.
			return 0
		}
		if rerr != nil {
			return 111
		}
	}
}

// maxRaw bounds the text of a label kept for copying it through when its
// date cannot be represented; only the last 24 digits of a label count, so
// longer labels are garbage whose excess digits are dropped.
const maxRaw = 4096

// What the localizer is reading.
const (
	lineStart = iota // the first byte of a line
	inLabel          // the hex digits after a line's '@'
	inLine           // the rest of a line, copied
)

// localizer is tai64nlocal's state between blocks of input.
type localizer struct {
	loc   *time.Location
	out   []byte
	state int

	// The label being read, as the original reads it: digits shift into
	// nanos, whose bits above 28 shift into secs.
	secs, nanos uint64
	raw         []byte

	// The formatted date of the last second printed.
	cached     bool
	cacheSecs  int64
	cacheDate  []byte
	cacheValid bool
}

// write processes one block of input and writes the output it completes.
// It reports whether writing succeeded.
func (l *localizer) write(w io.Writer, data []byte) bool {
	for len(data) > 0 {
		switch l.state {
		case lineStart:
			if data[0] == '@' {
				l.state = inLabel
				l.secs, l.nanos = 0, 0
				l.raw = append(l.raw[:0], '@')
				data = data[1:]
				continue
			}
			l.state = inLine
		case inLabel:
			c := data[0]
			var u uint64
			switch {
			case '0' <= c && c <= '9':
				u = uint64(c - '0')
			case 'a' <= c && c <= 'f':
				u = uint64(c-'a') + 10
			default:
				// The byte that ends the label is the first of the
				// rest of the line.
				l.appendDate()
				l.state = inLine
				continue
			}
			l.secs = l.secs<<4 + l.nanos>>28
			l.nanos = (l.nanos&0xfffffff)<<4 + u
			if len(l.raw) < maxRaw {
				l.raw = append(l.raw, c)
			}
			data = data[1:]
		case inLine:
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				l.out = append(l.out, data...)
				data = nil
				break
			}
			l.out = append(l.out, data[:i+1]...)
			data = data[i+1:]
			l.state = lineStart
			if len(l.out) >= flushSize {
				if _, err := w.Write(l.out); err != nil {
					return false
				}
				l.out = l.out[:0]
			}
		}
	}
	if len(l.out) > 0 {
		if _, err := w.Write(l.out); err != nil {
			return false
		}
		l.out = l.out[:0]
	}
	return true
}

// labelOffset is what daemontools subtracts from a label's seconds: 2^62
// and the 10 seconds of its fixed TAI-UTC offset.
const labelOffset = 1<<62 + 10

// appendDate appends the local time of the label just read, or the label
// itself when localtime(3) could not represent its date.
func (l *localizer) appendDate() {
	secs := int64(l.secs - labelOffset)
	if !l.cached || secs != l.cacheSecs {
		l.cached, l.cacheSecs = true, secs
		l.cacheDate, l.cacheValid = appendLocalDate(l.cacheDate[:0], secs, l.loc)
	}
	if !l.cacheValid {
		l.out = append(l.out, l.raw...)
		return
	}
	l.out = append(l.out, l.cacheDate...)
	l.out = append(l.out, '.')
	l.out = appendPadded(l.out, l.nanos, 9)
}

// appendLocalDate appends "YYYY-MM-DD HH:MM:SS" for secs in loc, as
// tai64nlocal prints it, and reports whether localtime(3) can represent the
// date (its year minus 1900 fits in a C int). The year is printed as the
// original prints it: an int converted to unsigned long, so years before 0
// come out as 2^64 plus the year.
func appendLocalDate(b []byte, secs int64, loc *time.Location) ([]byte, bool) {
	const limit = 1 << 56 // beyond 2^31 years either way, and safe for package time
	if secs < -limit || secs > limit {
		return b, false
	}
	t := time.Unix(secs, 0).In(loc)
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	tmYear := int64(year) - 1900
	if tmYear < math.MinInt32 || tmYear > math.MaxInt32 {
		return b, false
	}
	cYear := int32(tmYear) + 1900 // int arithmetic, wrapping as C's does
	b = appendPadded(b, uint64(int64(cYear)), 1)
	b = append(b, '-')
	b = appendPadded(b, uint64(month), 2)
	b = append(b, '-')
	b = appendPadded(b, uint64(day), 2)
	b = append(b, ' ')
	b = appendPadded(b, uint64(hour), 2)
	b = append(b, ':')
	b = appendPadded(b, uint64(min), 2)
	b = append(b, ':')
	b = appendPadded(b, uint64(sec), 2)
	return b, true
}

// appendPadded appends n in decimal, with leading zeros to at least width
// digits.
func appendPadded(b []byte, n uint64, width int) []byte {
	var d [20]byte
	i := len(d)
	for n >= 10 || i > len(d)-width+1 {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	d[i] = byte('0' + n)
	return append(b, d[i:]...)
}
