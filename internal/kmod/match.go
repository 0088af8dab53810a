package kmod

import (
	"errors"
	"fmt"
)

// Match reports whether s matches the glob pattern as fnmatch(3) without
// flags does, which is how modprobe matches modules.alias: '*' any run of
// bytes (including '/'), '?' one byte, '[...]' one byte of a set with
// ranges, negated by a leading '!' or '^', and '\' quoting the next byte.
// A malformed set matches as the literal '['.
func Match(pattern, s string) bool {
	// Iterative with one backtrack point for the last '*': linear in
	// practice, no recursion.
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starI = p, i
				p++
				continue
			case '?':
				p++
				i++
				continue
			case '[':
				if ok, next, valid := matchSet(pattern, p, s[i]); valid {
					if ok {
						p, i = next, i+1
						continue
					}
				} else if s[i] == '[' {
					p++
					i++
					continue
				}
			case '\\':
				if p+1 < len(pattern) && pattern[p+1] == s[i] {
					p += 2
					i++
					continue
				}
				if p+1 == len(pattern) && s[i] == '\\' {
					p++
					i++
					continue
				}
			default:
				if c == s[i] {
					p++
					i++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starI++
		p, i = starP+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchSet matches b against the set starting at pattern[p] == '['. It
// returns whether b is in it, the index after the set, and whether the set
// was well formed.
func matchSet(pattern string, p int, b byte) (ok bool, next int, valid bool) {
	j := p + 1
	neg := false
	if j < len(pattern) && (pattern[j] == '!' || pattern[j] == '^') {
		neg = true
		j++
	}
	first := true
	for j < len(pattern) {
		c := pattern[j]
		if c == ']' && !first {
			return ok != neg, j + 1, true
		}
		first = false
		if c == '\\' && j+1 < len(pattern) {
			j++
			c = pattern[j]
		}
		lo, hi := c, c
		if j+2 < len(pattern) && pattern[j+1] == '-' && pattern[j+2] != ']' {
			hi = pattern[j+2]
			if hi == '\\' && j+3 < len(pattern) {
				hi = pattern[j+3]
				j++
			}
			j += 2
		}
		if lo <= b && b <= hi {
			ok = true
		}
		j++
	}
	return false, 0, false
}

// checkPattern rejects patterns that cannot be a modalias glob.
func checkPattern(p string) error {
	if p == "" {
		return errors.New("empty alias pattern")
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x21 || p[i] > 0x7e {
			return fmt.Errorf("alias pattern %q has byte %#x", p, p[i])
		}
	}
	return nil
}
