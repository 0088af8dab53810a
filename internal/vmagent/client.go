package vmagent

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Result is what a command run in the guest gave.
type Result struct {
	Stdout, Stderr []byte
	// Status is the exit status, 128+N for a death by signal N.
	Status int
}

// Client is the host's end of the channel. It owns one reader goroutine,
// stopped by Close.
type Client struct {
	conn io.ReadWriteCloser

	wmu sync.Mutex // serializes frame writes

	mu    sync.Mutex
	next  uint32
	calls map[uint32]*call
	err   error // why the reader stopped

	readerDone chan struct{}
}

type call struct {
	stdout, stderr bytes.Buffer
	status         int
	failed         string
	ended          bool // an Exit, Failed or Pong frame arrived
	done           chan struct{}
}

// ErrClosed is returned for requests after the channel ended.
var ErrClosed = errors.New("vmagent: channel closed")

// NewClient starts a client on conn.
func NewClient(conn io.ReadWriteCloser) *Client {
	c := &Client{conn: conn, calls: map[uint32]*call{}, readerDone: make(chan struct{})}
	go c.read()
	return c
}

// Close closes the connection and waits for the reader goroutine.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.readerDone
	return err
}

func (c *Client) read() {
	defer close(c.readerDone)
	for {
		f, err := ReadFrame(c.conn)
		if err != nil {
			c.mu.Lock()
			c.err = err
			for id, cl := range c.calls {
				delete(c.calls, id)
				close(cl.done)
			}
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		cl := c.calls[f.ID]
		if cl != nil {
			switch f.Type {
			case TypeStdout:
				cl.stdout.Write(f.Payload)
			case TypeStderr:
				cl.stderr.Write(f.Payload)
			case TypeExit:
				if len(f.Payload) == 4 {
					cl.status = int(int32(binary.BigEndian.Uint32(f.Payload)))
				}
				cl.ended = true
				delete(c.calls, f.ID)
				close(cl.done)
			case TypeFailed:
				cl.failed = string(f.Payload)
				cl.ended = true
				delete(c.calls, f.ID)
				close(cl.done)
			case TypePong:
				cl.ended = true
				delete(c.calls, f.ID)
				close(cl.done)
			}
		}
		// Frames for a request nobody waits for any more (one that
		// timed out) are dropped.
		c.mu.Unlock()
	}
}

// start registers a new request and sends its frame.
func (c *Client) start(typ byte, payload []byte) (uint32, *call, error) {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, nil, fmt.Errorf("%w: %v", ErrClosed, err)
	}
	c.next++
	id := c.next
	cl := &call{done: make(chan struct{})}
	c.calls[id] = cl
	c.mu.Unlock()
	if err := c.send(Frame{Type: typ, ID: id, Payload: payload}); err != nil {
		c.forget(id)
		return 0, nil, fmt.Errorf("vmagent: send: %w", err)
	}
	return id, cl, nil
}

func (c *Client) send(f Frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return WriteFrame(c.conn, f)
}

func (c *Client) forget(id uint32) {
	c.mu.Lock()
	delete(c.calls, id)
	c.mu.Unlock()
}

// Ping sends a ping and waits for the answer.
func (c *Client) Ping(ctx context.Context) error {
	id, cl, err := c.start(TypePing, nil)
	if err != nil {
		return err
	}
	select {
	case <-cl.done:
		return c.closedErr(cl)
	case <-ctx.Done():
		c.forget(id)
		return ctx.Err()
	}
}

func (c *Client) closedErr(cl *call) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !cl.ended {
		return fmt.Errorf("%w: %v", ErrClosed, c.err)
	}
	return nil
}

// Run runs line with sh -c in the guest and returns its output and status.
// When ctx ends first, the command's process group is killed and Run
// returns ctx's error with the output so far.
func (c *Client) Run(ctx context.Context, line string) (Result, error) {
	id, cl, err := c.start(TypeRun, []byte(line))
	if err != nil {
		return Result{}, err
	}
	select {
	case <-cl.done:
	case <-ctx.Done():
		c.forget(id)
		_ = c.send(Frame{Type: TypeKill, ID: id})
		c.mu.Lock()
		r := Result{Stdout: bytes.Clone(cl.stdout.Bytes()), Stderr: bytes.Clone(cl.stderr.Bytes()), Status: -1}
		c.mu.Unlock()
		return r, ctx.Err()
	}
	c.mu.Lock()
	r := Result{Stdout: cl.stdout.Bytes(), Stderr: cl.stderr.Bytes(), Status: cl.status}
	readerErr, failed, ended := c.err, cl.failed, cl.ended
	c.mu.Unlock()
	if failed != "" {
		return r, fmt.Errorf("vmagent: %q did not start: %s", line, failed)
	}
	if !ended {
		return r, fmt.Errorf("%w while %q ran: %v", ErrClosed, line, readerErr)
	}
	return r, nil
}

// Spawn sends line to be run and does not wait for it: its output and
// status are dropped. For commands that end the channel, like poweroff.
func (c *Client) Spawn(line string) error {
	id, _, err := c.start(TypeRun, []byte(line))
	if err != nil {
		return err
	}
	c.forget(id)
	return nil
}
