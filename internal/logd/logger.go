package logd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ichi-init/ichi/internal/errstr"
	"github.com/ichi-init/ichi/internal/tai64n"
)

// Options configure a Logger. The zero value is multilog's behaviour.
type Options struct {
	// Stderr receives the lines of the e action, the warnings, and the
	// standard error of processors. Nil means os.Stderr.
	Stderr io.Writer
	// Name starts every warning ("multilog: warning: ..."). Empty means
	// "multilog".
	Name string
	// Dir is the directory relative paths of the script are relative to.
	// Empty means the working directory at New.
	Dir string
	// Pause is how long the logger waits before trying again after a
	// failed disk operation or processor. Zero means 5 seconds, as
	// multilog.
	Pause time.Duration
	// RunProcessor runs a processor and waits for it. Nil means
	// os.StartProcess and Wait, which is right for the multilog tool but
	// not inside init, where the reaper owns wait4: init passes a function
	// that starts the process through its reaper.
	RunProcessor func(Processor) (syscall.WaitStatus, error)
}

// Stop modes, in increasing strength.
const (
	running   int32 = iota
	stopLine        // Stop: finish the line being read, then stop
	stopDrain       // Drain: read what is ready, then stop
)

// Lifecycle states.
const (
	stateNew int32 = iota
	stateRunning
	stateDone
)

// Logger is one multilog: a script applied to one input. Create it with
// New, feed it with Run. Rotate, Stop and Drain may be called from any
// goroutine at any time.
type Logger struct {
	script       *Script
	stderr       io.Writer
	name         string
	base         string
	pauseFor     time.Duration
	runProcessor func(Processor) (syscall.WaitStatus, error)

	dirs        []*dir
	statusFD    []int // the =file descriptors, by StatusFiles index
	statusNames []string

	state     atomic.Int32
	rotateReq atomic.Bool
	stopReq   atomic.Int32
	srcMu     sync.Mutex
	src       source

	// mu is held by Run while it processes and writes, and by Rotate
	// when it rotates while Run waits for input. Everything below is
	// guarded by it.
	mu        sync.Mutex
	atNewline bool   // the last byte read was a newline (or nothing was read)
	inLine    bool   // part of a line has been read
	inTail    bool   // the first lineMax bytes of it are out; the rest is being copied
	head      []byte // the label and first characters of the line being read
	labelLen  int    // 26 with t, 0 without
	status    []byte // the 1001-byte record of =file, made when first needed
	alertBuf  [alertMax + 4]byte
	label     [tai64n.LabelLen + 1]byte
}

// New opens everything the script names, as multilog does before it reads
// a byte: the =file status files (created when missing), then each log
// directory (created when missing, locked, and recovered from whatever an
// earlier multilog left in it). It fails, releasing what it took, when a file
// cannot be opened or a directory is locked by another multilog; the error
// reads as multilog's message, e.g. "unable to lock directory ./main:
// temporary failure".
func New(s *Script, opts Options) (*Logger, error) {
	l := &Logger{
		script:       s,
		stderr:       opts.Stderr,
		name:         opts.Name,
		base:         opts.Dir,
		pauseFor:     opts.Pause,
		runProcessor: opts.RunProcessor,
		atNewline:    true,
	}
	if l.stderr == nil {
		l.stderr = os.Stderr
	}
	if l.name == "" {
		l.name = "multilog"
	}
	if l.pauseFor <= 0 {
		l.pauseFor = 5 * time.Second
	}
	if l.runProcessor == nil {
		l.runProcessor = runProcessor
	}
	if s.Timestamp {
		l.labelLen = tai64n.LabelLen + 1
	}
	if l.base == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("unable to switch to current directory: %w", sysError{err})
		}
		l.base = wd
	}
	if err := l.open(); err != nil {
		l.closeFiles()
		return nil, err
	}
	return l, nil
}

// open opens the status files and the directories.
func (l *Logger) open() error {
	s := l.script
	for _, name := range s.StatusFiles {
		path := name
		if path != "" && !filepath.IsAbs(path) {
			path = filepath.Join(l.base, path)
		}
		fd, err := openRetryEINTR(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("unable to create %s: %w", name, sysError{err})
		}
		unix.Close(fd)
		if fd, err = openRetryEINTR(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("unable to write %s: %w", name, sysError{err})
		}
		l.statusFD = append(l.statusFD, fd)
		l.statusNames = append(l.statusNames, name)
	}
	for _, spec := range s.Dirs {
		d, err := openDir(l, spec)
		if err != nil {
			return err
		}
		d.selected = true
		l.dirs = append(l.dirs, d)
	}
	return nil
}

func openRetryEINTR(path string, flags int, perm uint32) (int, error) {
	for {
		fd, err := unix.Open(path, flags, perm)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// Run reads r to its end and logs it, then writes everything to disk, syncs
// each current and marks it finished (mode 0744), and releases the
// directories. A partial last line gets a newline. It returns nil at end of
// input or after Stop or Drain; a read error ends the input as end of file
// does for multilog, and is returned. Run may be called once.
//
// When r is a pipe from os.Pipe (non-blocking, in Go's poller) or a blocking
// descriptor such as a standard input, Run holds no buffer while it waits
// for input, and Stop and Drain reach it while it waits. Any other reader
// holds an input buffer during Read, and Stop and Drain take effect when
// Read returns.
func (l *Logger) Run(r io.Reader) error {
	if !l.state.CompareAndSwap(stateNew, stateRunning) {
		return errors.New("multilog: Run called on a logger already run or closed")
	}
	src, err := newSource(r)
	if err != nil {
		l.mu.Lock()
		l.shutdown()
		l.mu.Unlock()
		return fmt.Errorf("multilog: input: %w", err)
	}
	l.srcMu.Lock()
	l.src = src
	l.srcMu.Unlock()
	defer func() {
		l.srcMu.Lock()
		l.src = nil
		l.srcMu.Unlock()
		src.close()
	}()

	l.mu.Lock()
	var rerr error
	for {
		l.boundary()
		stop := l.stopReq.Load()
		if stop == stopLine && l.atNewline {
			break
		}
		// Unlocked while waiting and reading: Rotate does its work
		// itself then. A request made while Run held the lock is seen
		// here.
		l.mu.Unlock()
		if l.rotateReq.Load() {
			l.mu.Lock()
			continue
		}
		n, err := 0, src.wait(stop == stopDrain)
		var bp *[]byte
		if err == nil {
			bp = inPool.Get().(*[]byte)
			size := inSize
			if stop == stopLine {
				size = 1 // finish the line without reading past it
			}
			n, err = src.read((*bp)[:size])
		}
		l.mu.Lock()
		if n > 0 {
			l.process((*bp)[:n])
			l.atNewline = (*bp)[n-1] == '\n'
		}
		if bp != nil {
			inPool.Put(bp)
		}
		if err == nil {
			continue
		}
		if l.interrupted(err, src) {
			continue
		}
		if err != io.EOF && err != errEmpty {
			rerr = err
		}
		if n > 0 {
			l.boundary()
		}
		break
	}
	l.endLine()
	l.shutdown()
	l.mu.Unlock()
	if rerr != nil {
		return fmt.Errorf("multilog: read input: %w", rerr)
	}
	return nil
}

// interrupted reports whether err is the logger's own wake-up for Stop or
// Drain rather than the end of the input.
func (l *Logger) interrupted(err error, src source) bool {
	if err == errInterrupted {
		return true
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && l.stopReq.Load() != running {
		src.resume()
		return true
	}
	return false
}

// Rotate is what SIGALRM does to multilog: every directory whose current
// is not empty rotates, at once when Run is waiting for input, otherwise as
// soon as Run has processed what it read. It does not wait for a rotation
// Run does.
func (l *Logger) Rotate() {
	l.rotateReq.Store(true)
	if l.mu.TryLock() {
		if l.state.Load() != stateDone {
			l.boundary()
		}
		l.mu.Unlock()
	}
}

// Stop is what SIGTERM does to multilog: Run processes what it has read,
// reads on (one byte at a time) to the end of a line it is in the middle
// of, writes everything out and returns. The input is left at the first byte
// not processed.
func (l *Logger) Stop() { l.requestStop(stopLine) }

// Drain makes Run process whatever input is ready now without waiting for
// more, end a partial last line with a newline as at end of input, write
// everything out and return. It is for shutting down a logger whose pipe
// may still have writers (a daemon's orphaned children). With a reader that
// is not an *os.File it acts at the next read and reads nothing more.
func (l *Logger) Drain() { l.requestStop(stopDrain) }

func (l *Logger) requestStop(mode int32) {
	for {
		old := l.stopReq.Load()
		if old >= mode || l.stopReq.CompareAndSwap(old, mode) {
			break
		}
	}
	l.srcMu.Lock()
	if l.src != nil {
		l.src.interrupt()
	}
	l.srcMu.Unlock()
}

// Close finishes a logger that was never run, as Run finishes: each
// current synced and marked finished (mode 0744), locks released. It does
// nothing after Run returned, and fails while Run runs (use Stop).
func (l *Logger) Close() error {
	if l.state.CompareAndSwap(stateNew, stateRunning) {
		l.mu.Lock()
		l.shutdown()
		l.mu.Unlock()
		return nil
	}
	if l.state.Load() == stateRunning {
		return errors.New("multilog: Close called while Run runs")
	}
	return nil
}

// shutdown is multilog's end: every current written out, synced and
// marked finished, and then the files closed and the locks released. The
// caller holds mu.
func (l *Logger) shutdown() {
	for _, d := range l.dirs {
		d.quit()
	}
	l.state.Store(stateDone)
	l.closeFiles()
}

func (l *Logger) closeFiles() {
	for _, d := range l.dirs {
		d.close()
	}
	for _, fd := range l.statusFD {
		unix.Close(fd)
	}
	l.dirs, l.statusFD = nil, nil
	l.head, l.status = nil, nil
}

// boundary is the moment multilog reads its input again: every
// directory's buffer goes to disk (rotating where multilog would), a
// requested rotation happens, and buffers go back to the pools.
func (l *Logger) boundary() {
	for _, d := range l.dirs {
		d.buf.flush()
		d.writeOut()
	}
	if l.rotateReq.Swap(false) {
		for _, d := range l.dirs {
			if d.buf.bytes > 0 {
				d.rotate()
				d.buf.bytes = 0
			}
		}
	}
	for _, d := range l.dirs {
		d.buf.release()
	}
}

// nextRead returns the offset of the first read of multilog's after
// offset x of the current chunk.
func nextRead(x int) int { return (x/stdioRead + 1) * stdioRead }

// readsUpTo replays multilog's reads (flushing every directory's buffer)
// when one of them falls at or before offset x; next is the offset of the
// next one.
func (l *Logger) readsUpTo(x int, next *int) {
	if x >= *next {
		for _, d := range l.dirs {
			d.buf.flush()
		}
		*next = nextRead(x)
	}
}

// process logs one chunk of input. Multilog would have read the chunk 1024
// bytes at a time, flushing its buffers before each read; those flushes
// are replayed at the same offsets (the one at offset 0 is Run's boundary).
func (l *Logger) process(p []byte) {
	next := stdioRead
	headCap := lineMax - l.labelLen
	i := 0
	for i < len(p) {
		if l.inTail {
			i = l.tail(p, i, &next)
			continue
		}
		rest := p[i:]
		if !l.inLine {
			// The common case: a whole line shorter than the head.
			if e := bytes.IndexByte(rest[:min(len(rest), headCap)], '\n'); e >= 0 {
				l.readsUpTo(i+e, &next)
				l.shortLine(rest[:e])
				i += e + 1
				continue
			}
			l.startLine()
		}
		need := headCap - (len(l.head) - l.labelLen)
		if e := bytes.IndexByte(rest[:min(len(rest), need)], '\n'); e >= 0 {
			l.readsUpTo(i+e, &next)
			l.head = append(l.head, rest[:e]...)
			l.putHead()
			l.putNewline()
			l.inLine = false
			i += e + 1
			continue
		}
		if len(rest) >= need {
			// The head is full: it goes out, and the rest of the line
			// is copied as it comes.
			l.readsUpTo(i+need-1, &next)
			l.head = append(l.head, rest[:need]...)
			l.putHead()
			l.inTail = true
			i += need
			continue
		}
		l.head = append(l.head, rest...)
		l.readsUpTo(len(p)-1, &next)
		i = len(p)
	}
}

// tail copies the rest of a long line from p[i:], up to and including its
// newline or to the end of p, and returns where it stopped.
func (l *Logger) tail(p []byte, i int, next *int) int {
	end := len(p)
	e := bytes.IndexByte(p[i:], '\n')
	if e >= 0 {
		end = i + e
	}
	for i < end {
		l.readsUpTo(i, next)
		seg := p[i:min(end, *next)]
		for _, d := range l.dirs {
			if d.selected {
				d.buf.appendBytes(seg...)
				d.buf.putEach(len(seg))
				d.writeIfFull()
			}
		}
		i += len(seg)
	}
	if e >= 0 {
		l.readsUpTo(end, next)
		l.putNewline()
		l.inTail, l.inLine = false, false
		i = end + 1
	}
	return i
}

// startLine begins a line: its label, when t is on, is taken now, when
// its first byte has been read.
func (l *Logger) startLine() {
	if l.head == nil {
		l.head = make([]byte, 0, lineMax)
	}
	l.head = l.head[:0]
	if l.labelLen > 0 {
		l.head = appendLabel(l.head, time.Now())
		l.head = append(l.head, ' ')
	}
	l.inLine = true
}

// shortLine logs a whole line (without its newline) read in one piece.
func (l *Logger) shortLine(line []byte) {
	if l.script.perLine {
		l.startLine()
		l.head = append(l.head, line...)
		l.putHead()
		l.putNewline()
		l.inLine = false
		return
	}
	lb := l.label[:0]
	if l.labelLen > 0 {
		lb = appendLabel(lb, time.Now())
		lb = append(lb, ' ')
	}
	for _, d := range l.dirs {
		b := &d.buf
		b.appendBytes(lb...)
		b.appendBytes(line...)
		b.appendBytes('\n')
		b.put(len(lb) + len(line))
		b.put(1)
		d.writeIfFull()
	}
}

// putHead runs the script on the head of the line (selection, alerts,
// status files) and sends the head to the directories that selected it.
func (l *Logger) putHead() {
	h := l.head
	if l.script.perLine {
		sel := true
		for _, a := range l.script.actions {
			switch a.kind {
			case actSelect:
				if !sel && match(a.pattern, h) {
					sel = true
				}
			case actDeselect:
				if sel && match(a.pattern, h) {
					sel = false
				}
			case actAlert:
				if sel {
					l.alert(h)
				}
			case actStatus:
				if sel {
					l.writeStatus(a.index, h)
				}
			case actDir:
				l.dirs[a.index].selected = sel
			}
		}
	}
	for _, d := range l.dirs {
		if d.selected {
			d.buf.appendBytes(h...)
			d.buf.put(len(h))
		}
	}
}

// putNewline ends the line in the directories that selected it.
func (l *Logger) putNewline() {
	for _, d := range l.dirs {
		if d.selected {
			d.buf.appendBytes('\n')
			d.buf.put(1)
			d.writeIfFull()
		}
	}
}

// endLine ends a partial last line as multilog does at end of input: with a
// newline.
func (l *Logger) endLine() {
	if !l.inLine {
		return
	}
	if !l.inTail {
		l.putHead()
	}
	l.putNewline()
	l.inLine, l.inTail = false, false
}

// writeIfFull writes out what multilog has written by now once enough has
// gathered.
func (d *dir) writeIfFull() {
	if len(d.buf.out) >= outLimit {
		d.writeOut()
	}
}

// alert is the e action: the first 200 bytes of the line, "..." when there
// was more, and a newline, in one write.
func (l *Logger) alert(h []byte) {
	b := l.alertBuf[:0]
	if len(h) > alertMax {
		b = append(append(b, h[:alertMax]...), "...\n"...)
	} else {
		b = append(append(b, h...), '\n')
	}
	l.stderr.Write(b)
}

// writeStatus is the =file action: the head of the line padded with
// newlines to 1001 bytes, written over the start of the file.
func (l *Logger) writeStatus(i int, h []byte) {
	if l.status == nil {
		l.status = make([]byte, lineMax+1)
	}
	n := copy(l.status, h)
	for j := n; j < len(l.status); j++ {
		l.status[j] = '\n'
	}
	fd, name := l.statusFD[i], l.statusNames[i]
	for {
		if _, err := unix.Seek(fd, 0, io.SeekStart); err != nil {
			l.warn("unable to move to beginning of " + name + ", pausing: " + errstr.Of(err))
			l.pause()
			continue
		}
		w, err := unix.Write(fd, l.status)
		if w == len(l.status) {
			return
		}
		if err == nil {
			err = io.ErrShortWrite
		}
		l.warn("unable to write " + name + ", pausing: " + errstr.Of(err))
		l.pause()
	}
}

// appendLabel appends the TAI64N label of t as daemontools' multilog makes
// it: from gettimeofday, so microseconds, plus 500 nanoseconds.
func appendLabel(b []byte, t time.Time) []byte {
	return tai64n.Append(b, time.Unix(t.Unix(), int64(t.Nanosecond()/1000*1000+500)))
}

// warn prints "NAME: warning: MESSAGE".
func (l *Logger) warn(msg string) {
	fmt.Fprintf(l.stderr, "%s: warning: %s\n", l.name, msg)
}

func (l *Logger) pause() { time.Sleep(l.pauseFor) }
