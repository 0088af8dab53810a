package rawcall

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ichi-init/ichi/internal/testutil"
)

// threadMask returns the signal mask of the calling thread.
func threadMask(t *testing.T) unix.Sigset_t {
	t.Helper()
	var cur unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, nil, &cur); err != nil {
		t.Fatal(err)
	}
	return cur
}

func urgBlocked(m unix.Sigset_t) bool {
	return m.Val[(unix.SIGURG-1)/64]&(1<<((unix.SIGURG-1)%64)) != 0
}

func TestDoBlocksSIGURGForTheCallOnly(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadMask(t)
	if urgBlocked(before) {
		t.Fatal("SIGURG is blocked before the call")
	}
	var during unix.Sigset_t
	got := Do(func() syscall.Errno {
		during = threadMask(t)
		return syscall.EAGAIN
	})
	if got != syscall.EAGAIN {
		t.Errorf("Do returned %v, want the call's EAGAIN", got)
	}
	if !urgBlocked(during) {
		t.Error("SIGURG is not blocked during the call")
	}
	if after := threadMask(t); after != before {
		t.Errorf("mask after the call %v, want it as before %v", after, before)
	}
}

func TestFinitModuleErrorsMatchUnix(t *testing.T) {
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, fd := range []int{-1, int(f.Fd())} {
		got := FinitModule(fd, "", 0)
		want := unix.FinitModule(fd, "", 0)
		if got == nil || !errors.Is(got, want) {
			t.Errorf("FinitModule(%d) = %v, want unix.FinitModule's %v", fd, got, want)
		}
	}
}

func TestMount(t *testing.T) {
	testutil.NeedRoot(t)
	dir := t.TempDir()
	if err := Mount("ichi-test", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0710,size=1m"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(dir, 0)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o710 {
		t.Errorf("mode of the mounted tmpfs %v, want 0710 from the data", fi.Mode().Perm())
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.TMPFS_MAGIC || st.Flags&unix.ST_NOSUID == 0 || st.Flags&unix.ST_NODEV == 0 {
		t.Errorf("statfs: type %#x flags %#x, want tmpfs with nosuid and nodev", st.Type, st.Flags)
	}
	// No data: mounting over the same place again still works.
	if err := Mount("ichi-test", dir, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	unix.Unmount(dir, 0)
	if err, want := Mount("x", dir+"/missing", "tmpfs", 0, ""), unix.Mount("x", dir+"/missing", "tmpfs", 0, ""); err == nil || !errors.Is(err, want) {
		t.Errorf("Mount on a missing directory: %v, want unix.Mount's %v", err, want)
	}
}
