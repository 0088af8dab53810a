package logd

import (
	"bytes"
	"sync"
)

// Where multilog ends a file depends on how its output was cut into
// writes: it rotates after a write that ends in a newline once current holds
// size-2000 bytes or more, and a write that would reach that zone is first
// shortened to its last newline. Its writes are the flushes of a 512-byte
// buffer (stdio-like: a line that does not fit flushes the buffer, one longer
// than the buffer is written directly, and the buffer is flushed before each
// read of 1024 bytes of input).
//
// ichi writes in large chunks, but replays that arithmetic on counters, so
// that its files end at exactly the same bytes as multilog's would for the
// same input read in the same pieces. The replay costs a few integer
// operations per line; the bytes are copied once, into out.

const (
	stdioBuf   = 512  // multilog's output buffer per log directory
	stdioRead  = 1024 // multilog's input buffer: one read(2) per 1024 bytes
	rotateZone = 2000 // a newline this close to the size limit ends the file
)

// Sizes of the buffers taken from the pools.
const (
	inSize   = 128 << 10
	outLimit = 128 << 10         // out is written to disk beyond this
	outSize  = outLimit + 16<<10 // room for one more line or tail piece
)

var (
	inPool  = sync.Pool{New: func() any { b := make([]byte, inSize); return &b }}
	outPool = sync.Pool{New: func() any { b := make([]byte, 0, outSize); return &b }}
)

// emulation is the output side of one log directory: the bytes not yet on
// disk and multilog's bookkeeping over them.
type emulation struct {
	size int // the s of the directory

	out  []byte  // bytes selected for this directory, not yet written
	buf  *[]byte // out's pooled backing array; nil while out is empty
	pos  int     // out[:pos] has been "written" by multilog; out[pos:] is in its buffer
	cuts []int   // offsets in out[:pos] where multilog ended a file

	pending int // bytes in multilog's 512-byte buffer (out[pos:pos+pending])
	bytes   int // size of current as multilog counts it
}

// appendBytes adds b to the directory's output, taking a buffer from the
// pool when it holds none.
func (e *emulation) appendBytes(b ...byte) {
	if e.buf == nil {
		e.buf = outPool.Get().(*[]byte)
		e.out = (*e.buf)[:0]
	}
	e.out = append(e.out, b...)
}

// put is multilog's buffer_put of n bytes just appended to out.
func (e *emulation) put(n int) {
	if n > stdioBuf-e.pending {
		e.flush()
		if n > stdioBuf {
			e.writeAll(n)
			return
		}
	}
	e.pending += n
}

// putEach is multilog's buffer_PUTC, once for each of n bytes.
func (e *emulation) putEach(n int) {
	for n > 0 {
		if e.pending == stdioBuf {
			e.flush()
		}
		m := min(n, stdioBuf-e.pending)
		e.pending += m
		n -= m
	}
}

// flush is multilog's buffer_flush.
func (e *emulation) flush() {
	if n := e.pending; n > 0 {
		e.pending = 0
		e.writeAll(n)
	}
}

// writeAll is allwrite over multilog's c_write: n bytes at out[pos:], in as
// many writes as c_write takes.
func (e *emulation) writeAll(n int) {
	for n > 0 {
		n -= e.write(n)
	}
}

// write is multilog's c_write of out[pos:pos+n]: it returns how much of it
// went to current, and notes the rotations on the way.
func (e *emulation) write(n int) int {
	if e.bytes >= e.size {
		e.cut()
	}
	n = min(n, e.size-e.bytes)
	chunk := e.out[e.pos : e.pos+n]
	if e.bytes+n >= e.size-rotateZone {
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			n = i + 1
		}
	}
	e.bytes += n
	e.pos += n
	if e.bytes >= e.size-rotateZone && e.out[e.pos-1] == '\n' {
		e.cut()
	}
	return n
}

// cut ends current at pos.
func (e *emulation) cut() {
	e.cuts = append(e.cuts, e.pos)
	e.bytes = 0
}

// consumed drops out[:pos] once it is on disk.
func (e *emulation) consumed() {
	n := copy(e.out, e.out[e.pos:])
	e.out = e.out[:n]
	e.pos = 0
	e.cuts = e.cuts[:0]
}

// release gives the buffer back to the pool when nothing is waiting in it,
// so that an idle logger holds no buffer.
func (e *emulation) release() {
	if e.buf != nil && len(e.out) == 0 {
		*e.buf = e.out[:0]
		outPool.Put(e.buf)
		e.buf, e.out = nil, nil
	}
}
