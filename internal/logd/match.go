package logd

import "bytes"

// match reports whether pattern matches all of line, with multilog's rules:
// a character other than '*' matches itself; a '*' at the end matches
// anything; any other '*' matches the shortest run of characters (possibly
// none) up to the next occurrence of the character that follows it in the
// pattern. There is no backtracking: "*b" against "abab" ends after the first
// b with "ab" left over, and fails.
func match(pattern string, line []byte) bool {
	for {
		if pattern == "" {
			return len(line) == 0
		}
		c := pattern[0]
		pattern = pattern[1:]
		if c == '*' {
			if pattern == "" {
				return true
			}
			i := bytes.IndexByte(line, pattern[0])
			if i < 0 {
				return false
			}
			line = line[i:]
			continue
		}
		if len(line) == 0 || line[0] != c {
			return false
		}
		line = line[1:]
	}
}
