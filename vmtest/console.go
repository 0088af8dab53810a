package vmtest

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
)

// PanicMarker is the console text that makes vmtest kill a guest at once:
// a kernel that panicked will not recover, and waiting out the test's
// timeouts would only hide the message.
const PanicMarker = "Kernel panic"

// console collects a guest's serial console and lets waiters match it.
type console struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced at every change
	cursor  int           // where the next Expect starts matching
	panicAt int           // -1, or where PanicMarker was seen
}

func newConsole() *console {
	return &console{changed: make(chan struct{}), panicAt: -1}
}

// Write appends console output and notes where a kernel panic message
// first appears.
func (c *console) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	from := max(0, c.buf.Len()-len(PanicMarker))
	c.buf.Write(b)
	if c.panicAt < 0 {
		if i := bytes.Index(c.buf.Bytes()[from:], []byte(PanicMarker)); i >= 0 {
			c.panicAt = from + i
		}
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return len(b), nil
}

// panicked reports whether the kernel panicked.
func (c *console) panicked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.panicAt >= 0
}

// match looks for re in the console from the cursor. On a match it moves
// the cursor past it and returns the line holding the match. Otherwise it
// returns a channel closed at the next change.
func (c *console) match(re *regexp.Regexp) (string, bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buf.Bytes()
	loc := re.FindIndex(b[c.cursor:])
	if loc == nil {
		return "", false, c.changed
	}
	start, end := c.cursor+loc[0], c.cursor+loc[1]
	c.cursor = end
	ls := bytes.LastIndexByte(b[:start], '\n') + 1
	le := bytes.IndexByte(b[end:], '\n')
	if le < 0 {
		le = len(b)
	} else {
		le += end
	}
	return strings.TrimRight(string(b[ls:le]), "\r"), true, nil
}

// String returns the whole console, carriage returns removed.
func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.ReplaceAll(c.buf.String(), "\r", "")
}

// tail returns the last n lines of the console.
func (c *console) tail(n int) string {
	return lastLines(c.String(), n)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	i := len(s)
	for ; n > 0 && i > 0; n-- {
		i = strings.LastIndexByte(s[:i], '\n')
		if i < 0 {
			return s
		}
	}
	if i <= 0 {
		return s
	}
	return s[i+1:]
}

// aroundPanic returns the console from before lines ahead of the kernel
// panic's line to after lines from it, or "" when there was no panic. A
// panic's stack trace would push its first line, the one that says why,
// out of a plain tail.
func (c *console) aroundPanic(before, after int) string {
	c.mu.Lock()
	if c.panicAt < 0 {
		c.mu.Unlock()
		return ""
	}
	all, at := c.buf.String(), c.panicAt
	c.mu.Unlock()
	start := strings.LastIndexByte(all[:at], '\n') + 1
	for n := 0; n < before && start > 0; n++ {
		start = strings.LastIndexByte(all[:start-1], '\n') + 1
	}
	end := at
	for n := 0; n < after; n++ {
		j := strings.IndexByte(all[end:], '\n')
		if j < 0 {
			end = len(all)
			break
		}
		end += j + 1
	}
	return strings.TrimRight(strings.ReplaceAll(all[start:end], "\r", ""), "\n")
}
