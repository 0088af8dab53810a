package stamp

import (
	"bytes"
	"io"
	"os"
	"time"

	"github.com/ichi-init/ichi/internal/tai64n"
)

// Buffer sizes: input is read in blocks of readSize bytes; output is
// written when a block is done or when flushSize bytes are waiting.
const (
	readSize  = 64 << 10
	flushSize = 64 << 10
)

// Tai64nMain is tai64n. It takes no options and ignores its arguments, as
// the original does.
func Tai64nMain(argv []string) int {
	return Stamp(os.Stdin, os.Stdout, time.Now)
}

// Stamp copies r to w with the label of now() and a space before each line.
// A line is stamped when its first byte has been read, and every block read
// is written out before the next read, so a slow writer's lines leave at
// once. It returns the exit status: 0 at the end of input, 111 when reading
// or writing fails (silently, as the original does). On a pipe whose reader
// has gone, writing to standard output kills the process with SIGPIPE, as
// it kills the original.
func Stamp(r io.Reader, w io.Writer, now func() time.Time) int {
	in := make([]byte, readSize)
	out := make([]byte, 0, flushSize+readSize+tai64n.LabelLen+1)
	atStart := true
	for {
		n, rerr := r.Read(in)
		data := in[:n]
		for len(data) > 0 {
			if atStart {
				out = tai64n.Append(out, now())
				out = append(out, ' ')
				atStart = false
			}
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				out = append(out, data...)
				break
			}
			out = append(out, data[:i+1]...)
			data = data[i+1:]
			atStart = true
			if len(out) >= flushSize {
				if _, err := w.Write(out); err != nil {
					return 111
				}
				out = out[:0]
			}
		}
		if len(out) > 0 {
			if _, err := w.Write(out); err != nil {
				return 111
			}
			out = out[:0]
		}
		if rerr == io.EOF {
			return 0
		}
		if rerr != nil {
			return 111
		}
	}
}
