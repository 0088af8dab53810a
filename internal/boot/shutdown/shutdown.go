// Package shutdown ends a machine's run in the order that loses nothing:
// stop the services, let their loggers drain their pipes to the end and
// stop, TERM and then KILL every process left, sync, unmount every file
// system in the reverse order of the mount table (remounting read-only what
// will not unmount), and only then call reboot(2).
//
// The pieces it orders are given to it (Steps), so that the sequence runs
// the same in a test — in a PID and mount namespace, with reboot(2)
// replaced — as in PID 1. Each step prints one line on the console with
// how long it took.
package shutdown

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ichi-init/ichi/internal/boot/mount"
	"github.com/ichi-init/ichi/internal/boot/power"
	"github.com/ichi-init/ichi/internal/procstat"
	"golang.org/x/sys/unix"
)

// Steps are the pieces of a shutdown.
type Steps struct {
	// StopServices stops every service (TERM, CONT, then KILL after the
	// deadline) and returns when all are down. Nil: no services.
	StopServices func(deadline time.Duration)
	// ServiceTimeout is the deadline given to StopServices.
	ServiceTimeout time.Duration
	// DrainLoggers lets each logger read its pipe to EOF, write what it
	// read, and stop. Nil: no loggers.
	DrainLoggers func()
	// KillTimeout is how long the processes left get after TERM before
	// KILL, and again after KILL before going on.
	KillTimeout time.Duration
	// Kill sends a signal to every process but the caller (kill(-1, sig)
	// by default).
	Kill func(sig unix.Signal) error
	// Remaining returns the pids of processes other than the caller and
	// kernel threads (by default read from /proc). The caller's reaper
	// reaps them; this only watches.
	Remaining func() ([]int, error)
	// Mountinfo is the mount table read for unmounting (default
	// /proc/self/mountinfo).
	Mountinfo string
	// Under limits unmounting to mount points at or below it (default
	// "/": everything).
	Under string
	// Sync flushes file systems (default sync(2)).
	Sync func()
	// Reboot performs the action's reboot(2) command (default
	// unix.Reboot). On a machine it does not return.
	Reboot func(cmd int) error
	// Console receives one line per step.
	Console io.Writer
}

// Run performs the steps for action and calls Reboot last. It returns only
// if Reboot does (in tests, or when reboot(2) fails), with Reboot's error.
// Failures of the steps are printed and do not stop the sequence.
func Run(s Steps, action power.Action) error {
	s.defaults()
	say := func(step string, start time.Time, err error) {
		d := time.Since(start).Round(time.Millisecond)
		if err != nil {
			fmt.Fprintf(s.Console, "ichi: shutdown: %s: %v (%v)\n", step, err, d)
			return
		}
		fmt.Fprintf(s.Console, "ichi: shutdown: %s (%v)\n", step, d)
	}
	fmt.Fprintf(s.Console, "ichi: shutdown: %s\n", action)

	t := time.Now()
	if s.StopServices != nil {
		s.StopServices(s.ServiceTimeout)
	}
	say("services stopped", t, nil)

	t = time.Now()
	if s.DrainLoggers != nil {
		s.DrainLoggers()
	}
	say("loggers drained", t, nil)

	t = time.Now()
	n, err := s.killRest()
	say(fmt.Sprintf("killed %d remaining processes", n), t, err)

	t = time.Now()
	s.Sync()
	say("synced", t, nil)

	t = time.Now()
	un, ro, err := s.unmount()
	say(fmt.Sprintf("unmounted %d file systems, %d read-only", un, ro), t, err)

	s.Sync()
	fmt.Fprintf(s.Console, "ichi: shutdown: reboot(2) %s\n", action)
	return s.Reboot(action.Cmd())
}

func (s *Steps) defaults() {
	if s.ServiceTimeout <= 0 {
		s.ServiceTimeout = 10 * time.Second
	}
	if s.KillTimeout <= 0 {
		s.KillTimeout = 5 * time.Second
	}
	if s.Kill == nil {
		s.Kill = func(sig unix.Signal) error { return unix.Kill(-1, sig) }
	}
	if s.Remaining == nil {
		s.Remaining = func() ([]int, error) { return Processes("/proc") }
	}
	if s.Under == "" {
		s.Under = "/"
	}
	if s.Sync == nil {
		s.Sync = unix.Sync
	}
	if s.Reboot == nil {
		s.Reboot = unix.Reboot
	}
	if s.Console == nil {
		s.Console = os.Stdout
	}
}

// killRest sends TERM and CONT to every process, waits for them to go, then
// KILL. It returns how many there were.
func (s *Steps) killRest() (int, error) {
	left, err := s.Remaining()
	if err != nil {
		return 0, err
	}
	n := len(left)
	if n == 0 {
		return 0, nil
	}
	var errs []error
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGCONT} {
		if err := s.Kill(sig); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("kill -%d -1: %w", sig, err))
		}
	}
	if s.waitGone() {
		return n, errors.Join(errs...)
	}
	if err := s.Kill(unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		errs = append(errs, fmt.Errorf("kill -9 -1: %w", err))
	}
	if !s.waitGone() {
		left, _ := s.Remaining()
		errs = append(errs, fmt.Errorf("still running after KILL: %v", left))
	}
	return n, errors.Join(errs...)
}

// waitGone polls until no process is left or KillTimeout has passed.
func (s *Steps) waitGone() bool {
	deadline := time.Now().Add(s.KillTimeout)
	for {
		left, err := s.Remaining()
		if err == nil && len(left) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// unmount unmounts every mount point under s.Under, last mounted first;
// one that will not go is remounted read-only.
func (s *Steps) unmount() (unmounted, readOnly int, err error) {
	infos, err := mount.ReadMountinfo(s.Mountinfo)
	if err != nil {
		return 0, 0, err
	}
	under := filepath.Clean(s.Under)
	var errs []error
	for _, in := range slices.Backward(infos) {
		mp := in.MountPoint
		if !(under == "/" || mp == under || strings.HasPrefix(mp, under+"/")) {
			continue
		}
		uerr := unix.Unmount(mp, 0)
		if uerr == nil {
			unmounted++
			continue
		}
		if errors.Is(uerr, unix.EINVAL) && mp != "/" {
			// Not a mount point any more: gone with its parent or
			// listed twice.
			continue
		}
		if strings.Contains(","+in.Options+",", ",ro,") {
			continue
		}
		if rerr := unix.Mount("", mp, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); rerr != nil {
			if mp != "/" {
				errs = append(errs, fmt.Errorf("%s: unmount: %v; remount read-only: %w", mp, uerr, rerr))
			}
			continue
		}
		readOnly++
	}
	return unmounted, readOnly, errors.Join(errs...)
}

// Processes returns the pids in procDir other than the caller's and kernel
// threads'. Zombies count until reaped.
func Processes(procDir string) ([]int, error) {
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return nil, fmt.Errorf("shutdown: %w", err)
	}
	self := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procDir, e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		if isKernelThread(b) {
			continue
		}
		out = append(out, pid)
	}
	return out, nil
}

// pfKthread is the PF_KTHREAD bit of the flags in /proc/PID/stat.
const pfKthread = 0x00200000

// isKernelThread reads the flags (field 9) of a /proc/PID/stat line.
func isKernelThread(stat []byte) bool {
	f := procstat.Fields(stat)
	if len(f) <= procstat.Flags {
		return false
	}
	flags, err := strconv.ParseUint(f[procstat.Flags], 10, 64)
	return err == nil && flags&pfKthread != 0
}
