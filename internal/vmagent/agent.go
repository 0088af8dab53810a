package vmagent

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Agent runs the commands a host sends over one stream.
type Agent struct {
	// Shell runs each command as Shell -c COMMAND; default /bin/sh.
	Shell string
	// Env is the commands' environment; nil means a PATH over the usual
	// directories.
	Env []string
	// WaitDelay bounds how long the agent waits for a command's output
	// after it exited, when something it started in the background keeps
	// its stdout open.
	WaitDelay time.Duration
}

// Serve reads requests from rwc until reading fails or ctx ends, running
// each Run request in its own goroutine. It closes rwc when ctx ends (which
// ends a blocked read), and before it returns it kills the commands still
// running and waits for them.
func (a *Agent) Serve(ctx context.Context, rwc io.ReadWriteCloser) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopClose := context.AfterFunc(ctx, func() { rwc.Close() })
	defer stopClose()
	var (
		wmu     sync.Mutex
		mu      sync.Mutex
		running = map[uint32]*exec.Cmd{}
		wg      sync.WaitGroup
	)
	send := func(f Frame) {
		wmu.Lock()
		defer wmu.Unlock()
		// Once the session ends nothing more is sent: the commands it
		// kills on the way out did not end by themselves, and their
		// clients learn that the channel closed instead.
		if ctx.Err() != nil {
			return
		}
		// A write error ends the session through the read side.
		_ = WriteFrame(rwc, f)
	}
	// Deferred calls run last first: cancel kills the commands, then
	// Wait collects their goroutines.
	defer wg.Wait()
	defer cancel()
	for {
		f, err := ReadFrame(rwc)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		switch f.Type {
		case TypePing:
			send(Frame{Type: TypePong, ID: f.ID, Payload: f.Payload})
		case TypeKill:
			mu.Lock()
			if c := running[f.ID]; c != nil && c.Process != nil {
				_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			}
			mu.Unlock()
		case TypeRun:
			cmd := a.command(ctx, f.ID, string(f.Payload), send)
			mu.Lock()
			err := cmd.Start()
			if err == nil {
				running[f.ID] = cmd
			}
			mu.Unlock()
			if err != nil {
				send(Frame{Type: TypeFailed, ID: f.ID, Payload: []byte(err.Error())})
				continue
			}
			wg.Add(1)
			go func(id uint32) {
				defer wg.Done()
				_ = cmd.Wait() // the status is in ProcessState
				st := exitStatus(cmd.ProcessState)
				mu.Lock()
				delete(running, id)
				mu.Unlock()
				var b [4]byte
				binary.BigEndian.PutUint32(b[:], uint32(int32(st)))
				send(Frame{Type: TypeExit, ID: id, Payload: b[:]})
			}(f.ID)
		default:
			// Answers are not requests; a confused peer is ignored.
		}
	}
}

func (a *Agent) command(ctx context.Context, id uint32, line string, send func(Frame)) *exec.Cmd {
	shell := a.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	cmd := exec.CommandContext(ctx, shell, "-c", line)
	cmd.Env = a.Env
	if cmd.Env == nil {
		cmd.Env = []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/local/bin", "HOME=/root", "TERM=dumb"}
	}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Stdout = &chunkWriter{typ: TypeStdout, id: id, send: send}
	cmd.Stderr = &chunkWriter{typ: TypeStderr, id: id, send: send}
	cmd.WaitDelay = a.WaitDelay
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 2 * time.Second
	}
	return cmd
}

// chunkWriter sends what a command writes as frames of one type.
type chunkWriter struct {
	typ  byte
	id   uint32
	send func(Frame)
}

func (w *chunkWriter) Write(b []byte) (int, error) {
	for rest := b; len(rest) > 0; {
		n := min(len(rest), 64<<10)
		w.send(Frame{Type: w.typ, ID: w.id, Payload: append([]byte(nil), rest[:n]...)})
		rest = rest[n:]
	}
	return len(b), nil
}

// exitStatus turns a finished process's state into a shell-style status:
// the exit code, or 128+N for a death by signal N.
func exitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return 127
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// FindPort returns the device of the virtio serial port called name, from
// /sys/class/virtio-ports/*/name (the path sysfs gives; udev's
// /dev/virtio-ports links may not exist in a small image).
func FindPort(sysfs, name string) (string, error) {
	dirs, err := filepath.Glob(filepath.Join(sysfs, "class/virtio-ports/*"))
	if err != nil {
		return "", err
	}
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "name"))
		if err != nil {
			continue
		}
		if strings.TrimSpace(string(b)) == name {
			return "/dev/" + filepath.Base(d), nil
		}
	}
	return "", fmt.Errorf("vmagent: no virtio serial port named %s in %s/class/virtio-ports", name, sysfs)
}
