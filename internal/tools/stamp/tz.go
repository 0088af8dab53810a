package stamp

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// zoneDir is where the C library looks for zone files named by TZ when
// TZDIR is not set.
const zoneDir = "/usr/share/zoneinfo"

// Location returns the zone localtime(3) in the GNU C library uses when the
// environment's TZ is tz (set reports whether TZ is set at all):
//
//   - TZ unset, or ":" alone: /etc/localtime;
//   - TZ empty: UTC;
//   - otherwise, after one leading ':' is dropped, the zone file it names
//     (an absolute path, or a name under $TZDIR or /usr/share/zoneinfo);
//   - failing that, TZ read as a POSIX zone string ("JST-9",
//     "CET-1CEST,M3.5.0,M10.5.0/3", "<+0330>-3:30");
//   - failing that, UTC.
//
// Known differences from the C library, all outside the dates of real logs:
// glibc applies a POSIX string's DST rules to years before 1970 as if they
// were 1970, and computes them with an overflowing int for years after about
// 5.8 million, where ichi applies the rules as written; a POSIX string with
// a DST name but no rule uses "M3.2.0,M11.1.0" for every year, where glibc
// uses the transitions of its posixrules file before 2007; a malformed
// POSIX string gives UTC, where glibc may apply the part it could read; leap
// seconds in "right/" zone files are ignored.
func Location(tz string, set bool) *time.Location {
	if !set {
		tz = ":"
	}
	if tz == "" {
		return time.UTC
	}
	tz = strings.TrimPrefix(tz, ":")
	file := tz
	switch {
	case file == "":
		file = "/etc/localtime"
	case file[0] != '/':
		dir := os.Getenv("TZDIR")
		if dir == "" {
			dir = zoneDir
		}
		file = filepath.Join(dir, file)
	}
	if data, err := os.ReadFile(file); err == nil {
		if loc, err := time.LoadLocationFromTZData(tz, data); err == nil {
			return loc
		}
	}
	if tz == "" || tz == "/etc/localtime" {
		return time.UTC
	}
	if loc, ok := posixLocation(tz); ok {
		return loc
	}
	return time.UTC
}

// posixLocation returns a location that follows the POSIX zone string tz
// for every date localtime(3) can represent, and reports whether tz looks
// like one. Go's time package applies such strings only as the rule after
// the last transition of a zone file, so this builds a zone file with one
// transition long before any representable date and tz as its rule.
func posixLocation(tz string) (*time.Location, bool) {
	if !posixLike(tz) {
		return nil, false
	}
	loc, err := time.LoadLocationFromTZData(tz, zoneFile(tz))
	if err != nil {
		return nil, false
	}
	return loc, true
}

// posixLike reports whether tz starts as a POSIX zone string does: a name
// of at least three letters, or a quoted <name>, followed by an offset.
func posixLike(tz string) bool {
	var name string
	if strings.HasPrefix(tz, "<") {
		end := strings.IndexByte(tz, '>')
		if end < 0 {
			return false
		}
		name, tz = tz[1:end], tz[end+1:]
	} else {
		i := 0
		for i < len(tz) && (tz[i] >= 'a' && tz[i] <= 'z' || tz[i] >= 'A' && tz[i] <= 'Z') {
			i++
		}
		name, tz = tz[:i], tz[i:]
	}
	if len(name) < 3 || tz == "" {
		return false
	}
	c := tz[0]
	return c == '+' || c == '-' || c >= '0' && c <= '9'
}

// firstTransition is the time of the single transition of the zone file
// zoneFile builds: before every date localtime(3) can represent (about
// 2^31 years either side of 1970), so that the rule applies to all of them.
const firstTransition = -1 << 59

// zoneFile returns a version 2 TZif file (RFC 8536) with one zone, UTC, one
// transition to it at firstTransition, and rule as the footer that applies
// after the last transition.
func zoneFile(rule string) []byte {
	header := func(b []byte, timecnt uint32) []byte {
		b = append(b, "TZif2"...)
		b = append(b, make([]byte, 15)...)
		// isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
		for _, n := range []uint32{0, 0, 0, timecnt, 1, 4} {
			b = binary.BigEndian.AppendUint32(b, n)
		}
		return b
	}
	ttinfo := []byte{0, 0, 0, 0, 0, 0} // utoff 0, not DST, name at 0
	var b []byte
	// Version 1 block: no transitions.
	b = header(b, 0)
	b = append(b, ttinfo...)
	b = append(b, "UTC\x00"...)
	// Version 2 block: 64-bit times.
	b = header(b, 1)
	when := int64(firstTransition)
	b = binary.BigEndian.AppendUint64(b, uint64(when))
	b = append(b, 0)
	b = append(b, ttinfo...)
	b = append(b, "UTC\x00"...)
	b = append(b, '\n')
	b = append(b, rule...)
	b = append(b, '\n')
	return b
}
