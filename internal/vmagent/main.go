package vmagent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ichi-init/ichi/internal/cli"
)

// Main is the vmagent tool: vmagent [-port NAME] [-device PATH] [-shell SH].
// It waits for the virtio serial port (the module may still be loading),
// serves the host's requests on it, and serves again when the host goes
// away and comes back. SIGTERM stops it, killing the commands it runs.
func Main(argv []string) int {
	name := "vmagent"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	port := fs.String("port", PortName, "name of the virtio serial port")
	device := fs.String("device", "", "device to serve instead of the named port")
	shell := fs.String("shell", "/bin/sh", "shell that runs the commands")
	if err := fs.Parse(argv[1:]); err != nil || fs.NArg() != 0 {
		cli.Usage(name, "[-port NAME] [-device PATH] [-shell SH]")
		return cli.ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	agent := &Agent{Shell: *shell}
	warned := false
	for ctx.Err() == nil {
		dev := *device
		if dev == "" {
			p, err := FindPort("/sys", *port)
			if err != nil {
				if !warned {
					cli.Warnf(name, "%v; waiting for it", err)
					warned = true
				}
				sleep(ctx, 200*time.Millisecond)
				continue
			}
			dev = p
		}
		f, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			if !warned {
				cli.Warnf(name, "open %s: %v; waiting for it", dev, err)
				warned = true
			}
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		if warned {
			fmt.Fprintf(cli.Stderr, "%s: serving %s\n", name, dev)
			warned = false
		}
		err = agent.Serve(ctx, f)
		f.Close()
		if err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
			cli.Warnf(name, "%s: %v", dev, err)
		}
		// EOF: the host is not connected; read again shortly.
		sleep(ctx, 250*time.Millisecond)
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
