package svscan

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// guard runs f and turns a panic into a message and an error: the scanner
// runs inside PID 1, which must never crash because one service's
// supervisor or logger went wrong.
func guard(logf func(string, ...any), what string, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			logf("warning: %s: panic: %v\n%s", what, v, debug.Stack())
			err = fmt.Errorf("%s: panic: %v", what, v)
		}
	}()
	return f()
}

// quietLog passes one supervisor's messages on, except the same message
// again and again: a ./run that cannot be started is retried every second,
// and would otherwise fill the catch-all with one line a second. Repeats are
// counted and the count is reported before the next different message.
type quietLog struct {
	logf func(string, ...any)

	mu      sync.Mutex
	last    string
	repeats int
}

func (q *quietLog) printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	q.mu.Lock()
	if msg == q.last {
		q.repeats++
		q.mu.Unlock()
		return
	}
	n := q.repeats
	q.last, q.repeats = msg, 0
	q.mu.Unlock()
	if n > 0 {
		q.logf("(the message before this one came %d more times)", n)
	}
	q.logf("%s", msg)
}
