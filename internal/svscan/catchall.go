package svscan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ichi-init/ichi/internal/logd"
)

// CatchAll says where output goes that no service logger takes: the output
// of services without log/, the stderr of services and loggers, and the
// scanner's own messages.
//
// The zero CatchAll is daemontools' svscan: services without log/ get the
// scanner's own standard output and error, and nothing is copied.
//
// With Console or Script set, the scanner creates one catch-all pipe and reads
// it in one goroutine that copies every byte to Console and, through an
// in-process multilog (internal/logd), into the log directory of Script.
type CatchAll struct {
	// Console receives every catch-all line: a machine's console, or a
	// container's standard output. Write errors are ignored (a console
	// that went away must not stop logging).
	Console io.Writer
	// Script is a multilog script for the catch-all log, as logd.ParseScript
	// takes it, for example {"t", "s1000000", "n10", "/run/ichi/log"}.
	// Empty: no log files.
	Script []string
	// Prefix puts "NAME: " before every line a service writes to the
	// catch-all (its stdout when it has no log/, and its stderr), so that
	// a container's output says who wrote what. It costs one pipe and one
	// parked goroutine per service; no buffer is held while the service is
	// quiet. Lines longer than about 4000 bytes are cut into several
	// prefixed lines. Without Prefix, all services share one pipe.
	Prefix bool
}

// catchAll is the running catch-all.
type catchAll struct {
	prefix bool
	// r and w are the catch-all pipe; both nil in the inherit mode.
	r, w *os.File
	// stdout and stderr are what services without log/ get.
	stdout, stderr *os.File
	console        io.Writer

	mu     sync.RWMutex // closed is set under the write lock; writers hold the read lock
	closed bool

	done chan struct{} // the reader returned
	err  error         // the reader's error, valid after done
}

// newCatchAll starts the catch-all described by c; run runs the processors
// of its log script.
func newCatchAll(c CatchAll, run func(logd.Processor) (syscall.WaitStatus, error)) (*catchAll, error) {
	if c.Console == nil && len(c.Script) == 0 {
		ca := &catchAll{stdout: os.Stdout, stderr: os.Stderr, console: os.Stderr, done: make(chan struct{})}
		close(ca.done)
		return ca, nil
	}
	var lg *logd.Logger
	if len(c.Script) > 0 {
		script, err := logd.ParseScript(c.Script)
		if err != nil {
			return nil, fmt.Errorf("catch-all log script %q: %w", c.Script, err)
		}
		if lg, err = logd.New(script, logd.Options{Stderr: consoleOr(c.Console), Name: "multilog (catch-all)", Dir: "/", RunProcessor: run}); err != nil {
			return nil, fmt.Errorf("catch-all log %q: %w", c.Script, err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("catch-all pipe: %w", err)
	}
	ca := &catchAll{
		prefix:  c.Prefix,
		r:       r,
		w:       w,
		stdout:  w,
		stderr:  w,
		console: consoleOr(c.Console),
		done:    make(chan struct{}),
	}
	go ca.read(lg, c.Console)
	return ca, nil
}

func consoleOr(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// read copies the catch-all pipe to the console and the log until EOF.
func (ca *catchAll) read(lg *logd.Logger, console io.Writer) {
	defer close(ca.done)
	var in io.Reader = ca.r
	if console != nil {
		in = io.TeeReader(ca.r, ignoreErrors{console})
	}
	if lg != nil {
		warn := func(format string, args ...any) { fmt.Fprintf(ca.console, "svscan: "+format+"\n", args...) }
		ca.err = guard(warn, "catch-all multilog", func() error { return lg.Run(in) })
	} else {
		_, ca.err = io.CopyBuffer(io.Discard, in, make([]byte, 4096))
	}
	if errors.Is(ca.err, os.ErrDeadlineExceeded) {
		ca.err = nil
	}
}

// ignoreErrors is a writer that never fails, so that a console that went
// away does not stop the catch-all log.
type ignoreErrors struct{ w io.Writer }

func (i ignoreErrors) Write(p []byte) (int, error) {
	i.w.Write(p)
	return len(p), nil
}

// Write writes p to the catch-all; after the catch-all is closed, to the
// console directly. It never fails.
func (ca *catchAll) Write(p []byte) (int, error) {
	ca.mu.RLock()
	defer ca.mu.RUnlock()
	if ca.w != nil && !ca.closed {
		if _, err := ca.w.Write(p); err == nil {
			return len(p), nil
		}
	}
	ca.console.Write(p)
	return len(p), nil
}

// close closes the scanner's write end and waits until the reader has read
// everything the other writers wrote, or until timeout when a process that
// outlived its service still holds the pipe.
func (ca *catchAll) close(timeout time.Duration) error {
	ca.mu.Lock()
	already := ca.closed
	ca.closed = true
	ca.mu.Unlock()
	if ca.w == nil {
		return nil
	}
	if !already {
		ca.w.Close()
		ca.r.SetReadDeadline(time.Now().Add(timeout))
	}
	<-ca.done
	if !already {
		ca.r.Close()
	}
	return ca.err
}

// maxPrefixedLine is the longest piece of a line a prefixer writes at once
// (prefix and newline included), so that each write to the catch-all pipe is
// atomic (PIPE_BUF) and lines of different services never interleave.
const maxPrefixedLine = 4096

// bufPool holds the read buffers of prefixers: a prefixer takes one only
// while it has bytes to read, so a quiet service holds none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, maxPrefixedLine); return &b }}

// prefixer is the pipe of one service without log/ in Prefix mode: the
// service writes into w, and a goroutine reads r and writes each line to the
// catch-all with the service's name in front.
type prefixer struct {
	prefix  string
	r, w    *os.File
	out     io.Writer
	partial []byte // the start of a line not yet ended; nil when none
	done    chan struct{}
}

func newPrefixer(name string, out io.Writer) (*prefixer, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("service %s: catch-all pipe: %w", name, err)
	}
	p := &prefixer{prefix: name + ": ", r: r, w: w, out: out, done: make(chan struct{})}
	go p.run()
	return p, nil
}

func (p *prefixer) run() {
	defer close(p.done)
	rc, err := p.r.SyscallConn()
	if err != nil {
		return
	}
	for {
		var n int
		var rerr error
		bp := bufPool.Get().(*[]byte)
		err := rc.Read(func(fd uintptr) bool {
			// The buffer is used only once the descriptor is readable;
			// a parked reader holds it, but only for this one read.
			n, rerr = unix.Read(int(fd), *bp)
			return rerr != unix.EAGAIN
		})
		if n > 0 {
			p.lines((*bp)[:n])
		}
		bufPool.Put(bp)
		switch {
		case err != nil: // closed, or the drain deadline passed
			p.flush()
			return
		case rerr == syscall.EINTR:
			continue
		case rerr != nil || n == 0: // an error, or EOF
			p.flush()
			return
		}
	}
}

// lines writes every complete line of b, keeping an unfinished one.
func (p *prefixer) lines(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.partial = append(p.partial, b...)
			for len(p.partial) >= p.room() {
				p.emit(p.partial[:p.room()])
				p.partial = p.partial[p.room():]
			}
			if len(p.partial) == 0 {
				p.partial = nil
			} else {
				// Keep only what is pending, not the buffer it grew in.
				p.partial = append([]byte(nil), p.partial...)
			}
			return
		}
		line := b[:i]
		b = b[i+1:]
		if p.partial != nil {
			line = append(p.partial, line...)
			p.partial = nil
		}
		for len(line) > p.room() {
			p.emit(line[:p.room()])
			line = line[p.room():]
		}
		p.emit(line)
	}
}

// room is how much of a line fits in one atomic write.
func (p *prefixer) room() int { return maxPrefixedLine - len(p.prefix) - 1 }

func (p *prefixer) emit(line []byte) {
	bp := bufPool.Get().(*[]byte)
	out := append((*bp)[:0], p.prefix...)
	out = append(out, line...)
	out = append(out, '\n')
	p.out.Write(out)
	bufPool.Put(bp)
}

// flush writes an unfinished last line, with a newline added.
func (p *prefixer) flush() {
	if len(p.partial) > 0 {
		p.emit(p.partial)
	}
	p.partial = nil
}

// close closes the scanner's write end and waits until the reader has read
// to the end, or until timeout when a leftover process still holds the pipe.
func (p *prefixer) close(timeout time.Duration) {
	p.w.Close()
	p.r.SetReadDeadline(time.Now().Add(timeout))
	<-p.done
	p.r.Close()
}
