// Package qemutests boots ichi's images under QEMU and checks them from the
// host with vmtest: the harness itself on a busybox guest, then ichi as
// PID 1 of a machine. The tests skip (fail under CI=true) without QEMU or
// the kernel that `make deps` fetches.
package qemutests
