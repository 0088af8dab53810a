// Package example shows how a project outside ichi tests its own service
// in a VM with vmtest: it builds its program, puts it into an ichi image as
// a supervised service with a logger, boots the image under QEMU, talks to
// the service through a forwarded port and reads the service's log.
//
// See README.md for running it from another module.
package example
