// Package rawcall makes the system calls of a boot that keep the kernel
// busy for milliseconds, loading a kernel module or mounting a file system,
// without the Go runtime's system call bookkeeping.
//
// A goroutine that enters a system call the usual way leaves its processor
// (P) to the runtime. The runtime's monitor thread, sysmon, takes that
// processor back once the call has lasted one of its ticks (20 µs at
// first), and it then polls every 20 µs for at least a millisecond more;
// it starts polling again each time it takes a processor back or is woken
// by a system call. On a machine with one processor nothing else runs
// while it polls, and in a TCG guest each of its wake-ups costs about
// 75 µs: a whole boot of the mail appliance spent 83-108 ms of its one
// processor in sysmon. With the module loads, the fstab's mounts and the
// sysfs reads of coldplug made raw, sysmon took 51-68 ms, and the boot
// reached the exec of its SMTP server in 0.857 s instead of 0.915 s after
// the kernel ran /init (medians of five boots).
//
// A raw call keeps its processor: with GOMAXPROCS=1 no other goroutine
// runs until it returns, and a garbage collection that must stop the world
// waits for it too, which is why only the boot's kernel work uses it (the
// longest, virtio_pci's load, takes 0.2 s in a TCG guest).
// The runtime's preemption signal (SIGURG), which sysmon sends to a
// goroutine that has kept a processor 10 ms, is blocked on the calling
// thread for the call, so that it cannot interrupt the kernel's work; it is
// delivered when the call returns.
package rawcall

import (
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Do runs call on the calling goroutine's thread with SIGURG blocked, and
// returns its error number. call makes its system calls with
// syscall.RawSyscall or unix.RawSyscall.
func Do(call func() syscall.Errno) syscall.Errno {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var urg, old unix.Sigset_t
	urg.Val[(unix.SIGURG-1)/64] = 1 << ((unix.SIGURG - 1) % 64)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &urg, &old); err != nil {
		return err.(syscall.Errno)
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return call()
}

// FinitModule is finit_module(2) made with Do: it loads the kernel module
// in the file fd with params and flags (unix.MODULE_INIT_*).
func FinitModule(fd int, params string, flags int) error {
	p, err := unix.BytePtrFromString(params)
	if err != nil {
		return err
	}
	return errnoErr(Do(func() syscall.Errno {
		_, _, errno := unix.RawSyscall(unix.SYS_FINIT_MODULE, uintptr(fd), uintptr(unsafe.Pointer(p)), uintptr(flags))
		return errno
	}))
}

// Mount is mount(2) made with Do, with unix.Mount's arguments: data ""
// passes no data.
func Mount(source, target, fstype string, flags uintptr, data string) error {
	var ptrs [4]*byte
	for i, s := range []string{source, target, fstype, data} {
		if i == 3 && s == "" {
			break
		}
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return err
		}
		ptrs[i] = p
	}
	return errnoErr(Do(func() syscall.Errno {
		_, _, errno := unix.RawSyscall6(unix.SYS_MOUNT,
			uintptr(unsafe.Pointer(ptrs[0])), uintptr(unsafe.Pointer(ptrs[1])), uintptr(unsafe.Pointer(ptrs[2])),
			flags, uintptr(unsafe.Pointer(ptrs[3])), 0)
		return errno
	}))
}

// errnoErr is nil for 0 and errno otherwise, so that success is a nil
// error and not a zero Errno in one.
func errnoErr(errno syscall.Errno) error {
	if errno == 0 {
		return nil
	}
	return errno
}
