// Package timerslack reads and sets the kernel's timer slack: how much later
// than asked a sleeping thread's timer may fire, so that the kernel can
// serve several timers with one wake-up (prctl(2) PR_SET_TIMERSLACK).
//
// The slack is a property of each thread, not of the process. A new thread
// or process starts with the slack of the thread that created it, and
// execve keeps it. The kernel gives PID 1 50 µs, and so, by inheritance,
// every process of a machine.
//
// ichi as PID 1 raises its own threads' slack (see package machine). The Go
// runtime's monitor thread (sysmon) sleeps 20 µs at a time whenever a
// system call holds the only processor; in a TCG guest, where each of those
// wake-ups costs tens of microseconds of the one processor, that polling
// took 27-63 ms of a half-second boot. With a larger slack it wakes far
// less often, and init's own timers (a restart pause of a second, a DHCP
// renewal) do not mind firing a few milliseconds late. Its children must
// not inherit that, so the reaper forks each of them from a thread set
// back to the slack the kernel gave init.
package timerslack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Thread returns the calling thread's timer slack. The caller should have
// locked its goroutine to its thread (runtime.LockOSThread), or the answer
// may be about another thread.
func Thread() (time.Duration, error) {
	n, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return 0, fmt.Errorf("prctl PR_GET_TIMERSLACK: %w", err)
	}
	return time.Duration(n), nil
}

// SetThread sets the calling thread's timer slack to d, which must be at
// least a nanosecond: the kernel reads 0 as "the thread's default", which
// is the slack the thread started with. The caller must have locked its
// goroutine to its thread.
func SetThread(d time.Duration) error {
	if err := check(d); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(d), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_TIMERSLACK %d: %w", d.Nanoseconds(), err)
	}
	return nil
}

// check refuses a slack below a nanosecond, which the kernel would read as
// "the thread's default".
func check(d time.Duration) error {
	if d < 1 {
		return fmt.Errorf("timer slack %v: must be at least 1ns", d)
	}
	return nil
}

// SetProcess sets the timer slack of every thread of the process to d,
// through proc (where procfs is mounted: "/proc"): it writes
// proc/TID/timerslack_ns for each thread listed in proc/self/task, and
// lists them again until a pass finds no thread it has not set, since
// threads the runtime starts meanwhile may have copied the old slack. A
// thread started after SetProcess returns copies d from its creator.
func SetProcess(proc string, d time.Duration) error {
	if err := check(d); err != nil {
		return err
	}
	value := []byte(strconv.FormatInt(d.Nanoseconds(), 10))
	done := map[string]bool{}
	for {
		tids, err := os.ReadDir(filepath.Join(proc, "self", "task"))
		if err != nil {
			return err
		}
		fresh := 0
		for _, t := range tids {
			if done[t.Name()] {
				continue
			}
			fresh++
			if err := setThreadFile(filepath.Join(proc, t.Name()), value); err != nil {
				return err
			}
			done[t.Name()] = true
		}
		if fresh == 0 {
			return nil
		}
	}
}

// setThreadFile writes value into the thread's timerslack_ns (dir is
// proc/TID). A thread that has exited since it was listed has nothing to
// set; a kernel without the file (before 4.6) is an error.
func setThreadFile(dir string, value []byte) error {
	err := os.WriteFile(filepath.Join(dir, "timerslack_ns"), value, 0)
	if err == nil || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	if _, serr := os.Stat(dir); os.IsNotExist(serr) {
		return nil
	}
	return err
}
