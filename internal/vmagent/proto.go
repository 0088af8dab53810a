// Package vmagent is the command channel between a test on the host and a
// guest booted under QEMU: a small framed protocol over a byte stream (a
// virtio serial port in the guest, the socket QEMU makes of it on the host),
// the guest's agent that runs commands with sh -c and streams back their
// output and exit status, and the host's client.
//
// A frame is a type byte, a 32-bit request id and a 32-bit payload length
// (both big-endian), then the payload. The host sends Run (payload: the
// command), Kill (no payload: kill the process group of that request) and
// Ping; the agent answers with Stdout and Stderr chunks and one Exit (payload:
// the status as a big-endian int32; 128+N for a death by signal N) or one
// Failed (payload: why the command could not start), and Pong. Requests are
// independent: several may run at once, their frames interleaved.
//
// It is not a remote shell: there is no standard input and no terminal.
package vmagent

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Frame types.
const (
	TypeRun    = 'R'
	TypeKill   = 'K'
	TypePing   = 'P'
	TypePong   = 'p'
	TypeStdout = 'O'
	TypeStderr = 'E'
	TypeExit   = 'X'
	TypeFailed = 'F'
)

// MaxPayload bounds a frame's payload; a longer one is a protocol error.
const MaxPayload = 1 << 20

// PortName is the name of the virtio serial port the agent serves
// (virtserialport's name= on QEMU's command line).
const PortName = "ichi.agent"

// Frame is one message.
type Frame struct {
	Type    byte
	ID      uint32
	Payload []byte
}

// WriteFrame writes f to w in one Write call, so that frames written by
// several goroutines under one lock never interleave.
func WriteFrame(w io.Writer, f Frame) error {
	if len(f.Payload) > MaxPayload {
		return fmt.Errorf("vmagent: frame payload of %d bytes exceeds %d", len(f.Payload), MaxPayload)
	}
	b := make([]byte, 9+len(f.Payload))
	b[0] = f.Type
	binary.BigEndian.PutUint32(b[1:], f.ID)
	binary.BigEndian.PutUint32(b[5:], uint32(len(f.Payload)))
	copy(b[9:], f.Payload)
	_, err := w.Write(b)
	return err
}

// ReadFrame reads one frame from r.
func ReadFrame(r io.Reader) (Frame, error) {
	var h [9]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Type: h[0], ID: binary.BigEndian.Uint32(h[1:])}
	n := binary.BigEndian.Uint32(h[5:])
	if n > MaxPayload {
		return Frame{}, fmt.Errorf("vmagent: frame type %q id %d announces %d bytes, more than %d", f.Type, f.ID, n, MaxPayload)
	}
	switch f.Type {
	case TypeRun, TypeKill, TypePing, TypePong, TypeStdout, TypeStderr, TypeExit, TypeFailed:
	default:
		return Frame{}, fmt.Errorf("vmagent: unknown frame type %q (id %d)", f.Type, f.ID)
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return Frame{}, fmt.Errorf("vmagent: frame type %q id %d: %w", f.Type, f.ID, err)
	}
	return f, nil
}
