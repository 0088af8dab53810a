package vmagent

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pair starts an agent on one end of a socket pair and returns a client on
// the other; cleanup stops both and waits for them.
func pair(t *testing.T) *Client {
	t.Helper()
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- (&Agent{}).Serve(ctx, a) }()
	c := NewClient(b)
	t.Cleanup(func() {
		cancel()
		<-served
		c.Close()
	})
	return c
}

func TestRun(t *testing.T) {
	c := pair(t)
	tests := []struct {
		cmd            string
		stdout, stderr string
		status         int
	}{
		{"echo hello", "hello\n", "", 0},
		{"echo out; echo err >&2; exit 3", "out\n", "err\n", 3},
		{"kill -9 $$", "", "", 137},
		{"printf 'a\\000b'", "a\x00b", "", 0},
		{"head -c 200000 /dev/zero", strings.Repeat("\x00", 200000), "", 0},
		{"exec /nonexistent-program", "", "", 127},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := c.Run(ctx, tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Stdout) != tt.stdout || r.Status != tt.status {
				t.Errorf("stdout %q status %d, want %q %d", r.Stdout, r.Status, tt.stdout, tt.status)
			}
			if tt.stderr != "" && string(r.Stderr) != tt.stderr {
				t.Errorf("stderr %q, want %q", r.Stderr, tt.stderr)
			}
		})
	}
}

func TestConcurrentRuns(t *testing.T) {
	c := pair(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := strings.Repeat(string(rune('a'+i)), 5000)
			r, err := c.Run(context.Background(), "sleep 0.1; printf "+want)
			if err == nil && string(r.Stdout) != want {
				err = errors.New("output of request " + string(rune('a'+i)) + " mixed up")
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRunTimeoutKillsGroup(t *testing.T) {
	c := pair(t)
	mark := filepath.Join(t.TempDir(), "survived")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := c.Run(ctx, "echo started; (sleep 1; touch "+mark+") & sleep 30")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("Run returned after %v", time.Since(start))
	}
	_ = r
	// The kill reached the whole group: the background child did not
	// live to touch its file.
	time.Sleep(1500 * time.Millisecond)
	if _, err := os.Stat(mark); err == nil {
		t.Fatal("background child of a timed-out command survived the kill")
	}
	// The channel still works.
	if r, err := c.Run(context.Background(), "echo again"); err != nil || string(r.Stdout) != "again\n" {
		t.Fatalf("after timeout: %q %v", r.Stdout, err)
	}
}

func TestPingAndClose(t *testing.T) {
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- (&Agent{}).Serve(ctx, a) }()
	c := NewClient(b)
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A command still running when the agent goes away fails with
	// ErrClosed, not a hang.
	res := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), "sleep 30")
		res <- err
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := <-served; !errors.Is(err, context.Canceled) {
		t.Errorf("Serve: %v", err)
	}
	select {
	case err := <-res:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Run after agent stop: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run hangs after the agent stopped")
	}
	if _, err := c.Run(context.Background(), "true"); !errors.Is(err, ErrClosed) {
		t.Errorf("Run on a closed channel: %v", err)
	}
	c.Close()
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"short header", []byte{'R', 0, 0}},
		{"unknown type", []byte{'Z', 0, 0, 0, 1, 0, 0, 0, 0}},
		{"too long", []byte{'O', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}},
		{"short payload", []byte{'O', 0, 0, 0, 1, 0, 0, 0, 5, 'a'}},
	}
	for _, tt := range tests {
		if _, err := ReadFrame(bytes.NewReader(tt.in)); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func FuzzReadFrame(f *testing.F) {
	var b bytes.Buffer
	WriteFrame(&b, Frame{Type: TypeRun, ID: 7, Payload: []byte("echo hi")})
	f.Add(b.Bytes())
	f.Add([]byte{'X', 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, err := ReadFrame(bytes.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteFrame(&out, fr); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), in[:out.Len()]) {
			t.Fatalf("frame does not round-trip: %q vs %q", out.Bytes(), in)
		}
	})
}

func TestFindPort(t *testing.T) {
	sys := t.TempDir()
	for name, port := range map[string]string{"vport0p1": "org.qemu.guest_agent.0", "vport1p1": PortName} {
		d := filepath.Join(sys, "class/virtio-ports", name)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "name"), []byte(port+"\n"), 0o644)
	}
	p, err := FindPort(sys, PortName)
	if err != nil || p != "/dev/vport1p1" {
		t.Fatalf("FindPort = %q, %v", p, err)
	}
	if _, err := FindPort(sys, "nope"); err == nil {
		t.Fatal("FindPort found a port that is not there")
	}
}
