package main

import (
	"net"
	"sync"
	"testing"
	"time"
)

// fakeForward plays QEMU's forwarded port through a boot: it holds the
// first connections open without a word (the guest has no address yet),
// then closes the next ones at once (the guest refuses), then lets the
// server accept: each accepted connection gets the greeting after
// serverStart, as exim gives it after starting. The phases advance on
// connections, not on time.
type fakeForward struct {
	ln          net.Listener
	held        int // connections held before the guest has its address
	refuse      int // connections refused before the server listens
	serverStart time.Duration

	mu       sync.Mutex
	seen     int        // connections so far
	accepted int        // connections the server accepted
	open     []net.Conn // held connections, closed at the end
}

func (f *fakeForward) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.seen++
		switch {
		case f.seen <= f.held:
			f.open = append(f.open, c)
		case f.seen <= f.held+f.refuse:
			c.Close()
		default:
			f.accepted++
			go func() {
				time.Sleep(f.serverStart)
				c.Write([]byte("220 mail ESMTP\r\n"))
				c.Close()
			}()
		}
		f.mu.Unlock()
	}
}

func (f *fakeForward) close() {
	f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.open {
		c.Close()
	}
}

// TestProberOneClientOnceRefused checks that the prober reads the greeting
// and, once the guest has refused a connection, keeps one connection at a
// time: the server starts one session for the banner, not one per
// probeEvery while the first session starts.
func TestProberOneClientOnceRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeForward{ln: ln, held: 3, refuse: 4, serverStart: 6 * probeEvery}
	go f.serve()
	defer f.close()

	p := newProber(ln.Addr().String())
	select {
	case <-p.banner:
	case <-time.After(time.Minute):
		t.Fatal("no greeting read in a minute")
	}
	f.mu.Lock()
	accepted := f.accepted
	f.mu.Unlock()
	p.stop()
	if accepted != 1 {
		t.Errorf("the server accepted %d connections before its greeting, want 1", accepted)
	}
}

// TestProberKeepsHeldConnections checks that a connection QEMU holds is not
// given up: when the guest answers one that was held from before it had an
// address (QEMU's retry reached it), its greeting counts.
func TestProberKeepsHeldConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	greeted := make(chan struct{})
	go func() {
		// The first connection is held, later ones too; after the third,
		// the first gets the greeting.
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			if len(conns) == 3 {
				conns[0].Write([]byte("220 mail ESMTP\r\n"))
				close(greeted)
			}
		}
	}()
	p := newProber(ln.Addr().String())
	defer p.stop()
	select {
	case <-p.banner:
	case <-time.After(time.Minute):
		t.Fatal("no greeting read in a minute")
	}
	select {
	case <-greeted:
	default:
		t.Fatal("a greeting was read before the server gave one")
	}
}
