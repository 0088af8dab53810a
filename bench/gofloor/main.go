// Command gofloor is the container benchmark's floor for an init written in
// Go: the least a Go program does to be PID 1 for one program the careful
// way. It subscribes to the four signals the Go runtime otherwise dies of
// (initsig.Fatal) before it starts PROGRAM, subscribes to the other
// catchable ones ichi forwards while PROGRAM starts, forwards what it
// receives, waits for PROGRAM and exits with its status (128+N for signal
// N). It does not reap orphans, has no flags and no services: it is what
// the Go runtime and os/signal cost, measured beside ichi and tini, not an
// init to use.
//
// Usage: gofloor PROGRAM [ARGS...]
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ichi-init/ichi/internal/initsig"
)

func main() {
	signals := make(chan os.Signal, 64)
	signal.Notify(signals, initsig.Fatal...)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "gofloor: usage: gofloor PROGRAM [ARGS...]")
		os.Exit(100)
	}
	// The same signals as ichi's container role.
	go signal.Notify(signals, initsig.ContainerRest()...)
	pid, err := syscall.ForkExec(os.Args[1], os.Args[1:], &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "gofloor: %s: %v\n", os.Args[1], err)
		os.Exit(126)
	}
	go func() {
		for s := range signals {
			syscall.Kill(pid, s.(syscall.Signal))
		}
	}()
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	if ws.Signaled() {
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(ws.ExitStatus())
}
