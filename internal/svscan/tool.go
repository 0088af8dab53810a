package svscan

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/reaper"
)

// Main is the standalone svscan tool: svscan [DIR] supervises every
// service directory of DIR (default: the current directory), like
// daemontools' svscan, with the supervisors and in-process loggers inside
// this one process. Services without log/ write to the tool's own stdout and
// stderr. SIGALRM rescans at once; SIGTERM, SIGINT and SIGHUP stop every
// service, drain every logger and exit 0.
func Main(argv []string) int {
	name := "svscan"
	if len(argv) > 2 {
		cli.Usage(name, "[dir]")
		return cli.ExitUsage
	}
	dir := "."
	if len(argv) == 2 {
		dir = argv[1]
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGALRM, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	r := reaper.Start(reaper.Options{ChildrenOnly: true})
	defer r.Stop()
	sc, err := New(Config{Dir: dir, Reaper: r})
	if err != nil {
		cli.Fatalf(name, "%v", err)
		return cli.ExitTemporary
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- sc.Run(ctx) }()
	for {
		select {
		case err := <-errc:
			if err != nil {
				cli.Fatalf(name, "%v", err)
				return cli.ExitTemporary
			}
			return 0
		case sig := <-sigs:
			if sig == syscall.SIGALRM {
				sc.Rescan()
			} else {
				cancel()
			}
		}
	}
}

// CtlMain is the svscanctl tool: svscanctl DIR... asks the scanner running
// on each DIR (ichi's init, or the svscan tool) for a full rescan now.
func CtlMain(argv []string) int {
	name := "svscanctl"
	if len(argv) < 2 {
		cli.Usage(name, "dir ...")
		return cli.ExitUsage
	}
	status := 0
	for _, dir := range argv[1:] {
		if err := RequestRescan(dir); err != nil {
			cli.Warnf(name, "%v", err)
			status = cli.ExitTemporary
		}
	}
	return status
}
