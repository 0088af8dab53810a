package logd

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/errstr"
)

// MultilogMain is the multilog tool: multilog SCRIPT, reading standard
// input, as daemontools 0.76's multilog. SIGTERM stops it at the end of the
// line being read, SIGALRM rotates every non-empty current. It exits 0 at
// the end of its input (or after SIGTERM) and 111 when it cannot start.
func MultilogMain(argv []string) int {
	const name = "multilog"
	// Caught before anything else, as multilog catches them first: a
	// SIGTERM during start-up stops it once it reads.
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGALRM)
	defer signal.Stop(signals)
	syscall.Umask(0o22)

	script, err := ParseScript(argv[1:])
	if err != nil {
		cli.Fatalf(name, "%v", err)
		return cli.ExitTemporary
	}
	l, err := New(script, Options{Stderr: os.Stderr, Name: name})
	if err != nil {
		cli.Fatalf(name, "%v", err)
		return cli.ExitTemporary
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case sig := <-signals:
				if sig == syscall.SIGTERM {
					l.Stop()
				} else {
					l.Rotate()
				}
			case <-done:
				return
			}
		}
	}()
	err = l.Run(os.Stdin)
	close(done)
	wg.Wait()
	if err != nil {
		// multilog takes a read error for the end of its input, silently;
		// ichi says so, and exits 0 as multilog does.
		cli.Warnf(name, "unable to read input: %s", errstr.Of(err))
	}
	return 0
}
