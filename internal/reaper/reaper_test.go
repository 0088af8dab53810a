package reaper

import (
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestSpawnDeliversExitCodeAndSignal(t *testing.T) {
	r := Start(Options{ChildrenOnly: true})
	defer r.Stop()
	tests := []struct {
		script   string
		wantCode int
	}{
		{"exit 0", 0},
		{"exit 7", 7},
		{"kill -TERM $$", 128 + 15},
		{"kill -KILL $$", 128 + 9},
	}
	for _, tt := range tests {
		c, err := r.Spawn(Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", tt.script}})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%q: no status after 5 s", tt.script)
		}
		if got := c.Status().Code(); got != tt.wantCode {
			t.Errorf("%q: code %d, want %d (%v)", tt.script, got, tt.wantCode, c.Status())
		}
		if c.Status().Pid != c.Pid {
			t.Errorf("%q: status pid %d, child pid %d", tt.script, c.Status().Pid, c.Pid)
		}
	}
}

func TestConcurrentSpawnsEachGetOwnStatus(t *testing.T) {
	r := Start(Options{ChildrenOnly: true})
	defer r.Stop()
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			code := i % 120
			c, err := r.Spawn(Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "exit $0", strconv.Itoa(code)}})
			if err != nil {
				errs <- err
				return
			}
			if st := c.Wait(); st.Code() != code {
				t.Errorf("child %d: code %d, want %d", c.Pid, st.Code(), code)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if r.Running() != 0 {
		t.Errorf("%d children still registered", r.Running())
	}
}

func TestSignalAfterReapIsRefused(t *testing.T) {
	r := Start(Options{ChildrenOnly: true})
	defer r.Stop()
	c, err := r.Spawn(Cmd{Path: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	c.Wait()
	if err := c.Signal(syscall.SIGTERM); err != ErrReaped {
		t.Errorf("Signal after reap: %v, want ErrReaped", err)
	}
}

func TestFilesBecomeDescriptors(t *testing.T) {
	r := Start(Options{ChildrenOnly: true})
	defer r.Stop()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	// fd 0 closed, fd 1 the pipe, fd 2 closed: echo to 1 must arrive,
	// and fd 0 must not exist in the child.
	c, err := r.Spawn(Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "if [ -e /proc/self/fd/0 ]; then echo open; else echo closed; fi"}, Files: []*os.File{nil, pw, nil}})
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := pr.Read(buf)
	c.Wait()
	if got := string(buf[:n]); got != "closed\n" {
		t.Errorf("child said %q, want %q", got, "closed\n")
	}
}

func TestStopTwiceConcurrently(t *testing.T) {
	r := Start(Options{ChildrenOnly: true})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(r.Stop)
	}
	wg.Wait()
	r.Stop()
}
