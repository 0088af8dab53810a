package svscan

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/reaper"
	"github.com/ichi-init/ichi/internal/testutil"
)

// testReaper is the one reaper of the test process: two reapers would steal
// each other's children. Reference programs run through it too (see
// runTool), never through os/exec, whose Wait it would race.
var testReaper *reaper.Reaper

func TestMain(m *testing.M) {
	if os.Getenv("ICHI_SVSCAN_HELPER") == "notify" {
		helperNotify()
		return
	}
	testReaper = reaper.Start(reaper.Options{ChildrenOnly: true})
	code := m.Run()
	testReaper.Stop()
	os.Exit(code)
}

// helperNotify is a service that sends READY=1 to $NOTIFY_SOCKET, then
// waits to be killed.
func helperNotify() {
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper notify:", err)
		os.Exit(1)
	}
	if _, err := c.Write([]byte("READY=1\n")); err != nil {
		fmt.Fprintln(os.Stderr, "helper notify:", err)
		os.Exit(1)
	}
	select {}
}

// messages records the scanner's messages.
type messages struct {
	mu   sync.Mutex
	list []string
}

func (m *messages) logf(format string, args ...any) {
	m.mu.Lock()
	m.list = append(m.list, fmt.Sprintf(format, args...))
	m.mu.Unlock()
}

// count returns how many messages contain sub.
func (m *messages) count(sub string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.list {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

func (m *messages) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.list, "\n")
}

// syncBuffer is safe for concurrent use.
type syncBuffer = testutil.SyncBuffer

// running is a scanner running in the background of a test.
type running struct {
	sc     *Scanner
	msgs   *messages
	cancel context.CancelFunc
	done   chan error
}

// startScanner runs a scanner on dir until the test ends. cfg's Dir, Reaper
// and (unless set) Logf are filled in.
func startScanner(t *testing.T, dir string, cfg Config) *running {
	t.Helper()
	cfg.Dir = dir
	cfg.Reaper = testReaper
	m := &messages{}
	if cfg.Logf == nil {
		cfg.Logf = m.logf
	}
	if cfg.KillAfter == 0 {
		cfg.KillAfter = 3 * time.Second
	}
	sc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{sc: sc, msgs: m, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- sc.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the scanner and waits for Run to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("Run did not return 60 s after cancel")
	}
}

// writeService makes a service directory dir with the shell script run.
func writeService(t testing.TB, dir, run string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "run"), "#!/bin/sh\n"+run+"\n", 0o755)
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond every 5 ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// status returns the scanner's Status of name.
func (r *running) status(name string) (Status, bool) {
	for _, st := range r.sc.Statuses() {
		if st.Name == name {
			return st, true
		}
	}
	return Status{}, false
}

// up reports whether name's ./run is running.
func (r *running) up(name string) bool {
	st, ok := r.status(name)
	return ok && st.Service != nil && st.Service.Up && st.Service.Pid > 0
}

// runTool runs a program through the test reaper and returns its combined
// output and exit code.
func runTool(t testing.TB, path string, args ...string) (string, int) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c, err := testReaper.Spawn(reaper.Cmd{
		Path:  path,
		Args:  append([]string{path}, args...),
		Env:   os.Environ(),
		Files: []*os.File{nil, pw, pw},
	})
	pw.Close()
	if err != nil {
		pr.Close()
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.ReadFrom(pr)
	pr.Close()
	select {
	case <-c.Done():
	case <-time.After(30 * time.Second):
		c.Signal(9)
		t.Fatalf("%s %q: still running after 30 s", path, args)
	}
	return out.String(), c.Status().Code()
}

// openFDs counts the test process's open descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// pauseProgram writes a tiny static x86-64 program that calls pause(2)
// forever (a few hundred bytes, no libc, a few pages of memory per process),
// for tests that run thousands of services. It returns "" on other
// architectures.
func pauseProgram(t testing.TB, path string) string {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		return ""
	}
	const base = 0x400000
	code := []byte{
		0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34 (pause)
		0x0f, 0x05, // syscall
		0xeb, 0xf7, // jmp back to mov
	}
	const ehsize, phsize = 64, 56
	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	binary.Write(&b, le, uint16(2))                       // e_type: EXEC
	binary.Write(&b, le, uint16(0x3e))                    // e_machine: x86-64
	binary.Write(&b, le, uint32(1))                       // e_version
	binary.Write(&b, le, uint64(base+ehsize+phsize))      // e_entry
	binary.Write(&b, le, uint64(ehsize))                  // e_phoff
	binary.Write(&b, le, uint64(0))                       // e_shoff
	binary.Write(&b, le, uint32(0))                       // e_flags
	binary.Write(&b, le, uint16(ehsize))                  // e_ehsize
	binary.Write(&b, le, uint16(phsize))                  // e_phentsize
	binary.Write(&b, le, uint16(1))                       // e_phnum
	binary.Write(&b, le, [3]uint16{})                     // e_shentsize, e_shnum, e_shstrndx
	binary.Write(&b, le, uint32(1))                       // p_type: LOAD
	binary.Write(&b, le, uint32(5))                       // p_flags: R+X
	binary.Write(&b, le, uint64(0))                       // p_offset
	binary.Write(&b, le, uint64(base))                    // p_vaddr
	binary.Write(&b, le, uint64(base))                    // p_paddr
	binary.Write(&b, le, uint64(ehsize+phsize+len(code))) // p_filesz
	binary.Write(&b, le, uint64(ehsize+phsize+len(code))) // p_memsz
	binary.Write(&b, le, uint64(0x1000))                  // p_align
	b.Write(code)
	writeFile(t, path, b.String(), 0o755)
	return path
}

// fdTargets returns what the test process's descriptors point to, counted.
func fdTargets(t testing.TB) map[string]int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			m[l]++
		}
	}
	return m
}

// fdDiff describes the descriptors in after but not in before. /dev/null is
// left out: supervise opens it once for the whole process.
func fdDiff(before, after map[string]int) string {
	var d []string
	for l, n := range after {
		if n > before[l] && l != os.DevNull {
			d = append(d, fmt.Sprintf("%s (%d more)", l, n-before[l]))
		}
	}
	return strings.Join(d, ", ")
}
