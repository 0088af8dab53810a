package supervise

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/reaper"
)

// Main is the standalone tool "supervise DIR", daemontools' command line: it
// supervises DIR until "svc -x" (and the service is down). Unlike
// daemontools' supervise, which dies at once on SIGTERM, SIGINT or SIGHUP and
// leaves the service running, it stops the service as "svc -dx" does (TERM,
// CONT, KILL after 10 seconds), then exits 0, as runsv does.
func Main(argv []string) int {
	const name = "supervise"
	if len(argv) != 2 || argv[1] == "" {
		cli.Usage(name, "dir")
		return cli.ExitUsage
	}
	// One service needs no parallelism, and with a single P the chain from
	// SIGCHLD to the reaper to the supervisor's goroutine runs on one
	// thread instead of waking one thread per step: restarts are faster on
	// a busy machine.
	runtime.GOMAXPROCS(1)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	r := reaper.Start(reaper.Options{ChildrenOnly: true})
	defer r.Stop()
	sv, err := New(Config{
		Dir:    argv[1],
		Reaper: r,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Env:    os.Environ(),
		Logf:   func(format string, args ...any) { cli.Warnf(name, format, args...) },
	})
	if err != nil {
		cli.Fatalf(name, "%v", err)
		return cli.ExitTemporary
	}
	if err := sv.Run(ctx); err != nil {
		cli.Fatalf(name, "%v", err)
		return cli.ExitTemporary
	}
	return 0
}
