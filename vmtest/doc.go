// Package vmtest boots ichi images under QEMU from Go tests and checks the
// guest from the host: the serial console, commands run in the guest, its
// services' state and logs, and TCP ports forwarded to it.
//
//	func TestMyService(t *testing.T) {
//		vm := vmtest.Start(t, vmtest.Options{
//			Ports: []int{8080},
//			Spec: initramfs.Spec{
//				Programs: []initramfs.Program{{Src: "/usr/sbin/mydaemon"}},
//				Services: []initramfs.Service{{
//					Name:     "mydaemon",
//					Run:      "#!/bin/sh\nexec mydaemon 2>&1\n",
//					Multilog: "t ./main",
//				}},
//			},
//		})
//		if err := vm.WaitUp("mydaemon", time.Minute); err != nil {
//			t.Fatal(err)
//		}
//		conn, err := vm.Dial(8080)
//		...
//		out, err := vm.Output("cat /etc/mydaemon.conf", 10*time.Second)
//		...
//		lines, err := vm.ServiceLog("mydaemon")
//		...
//	}
//
// Start builds the image with initramfs (ichi as /init, busybox, the
// virtio and ext4 modules, the programs with their libraries), boots it
// with qemu-system-x86_64 under TCG (never KVM), and kills it when the test
// ends. Every wait takes a timeout; a failed wait's error holds the
// console's last lines, and for a service its last log lines. A kernel
// panic ends the VM at once. VMs are independent: a test binary may run
// several at the same time (t.Parallel).
//
// Commands reach the guest through vmagent, a tool of the ichi binary that
// ichi supervises as the service /service/vmagent, on a virtio serial port
// that QEMU connects to a Unix socket on the host. A guest whose init is
// not ichi (Options.Append "rdinit=/my-init") starts "vmagent &" itself.
//
// Inputs: the kernel from $ICHI_KERNEL (a directory with vmlinuz, modules/
// and version, as ichi's `make deps` leaves in .cache/kernel; in ichi's own
// checkout that directory is found without the variable), the ichi binary
// from $ICHI_BIN or built with `go build`, busybox from /bin/busybox.
// Without QEMU or a kernel, Start skips the test (fails it under CI=true).
// $ICHI_VMTEST_CONSOLE=1 copies the consoles to standard error.
package vmtest
