package machine

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/ichi-init/ichi/internal/reaper"
	"github.com/ichi-init/ichi/internal/svscan"
)

// CatchAllLogDir is where a machine's catch-all log is written: the output
// of services without log/ and init's own messages, as multilog writes it.
const CatchAllLogDir = "/run/ichi/log"

// catchAllScript is the multilog script of the catch-all log: stamped, about
// 1 MB a file, ten files kept (it lives in RAM, under /run).
var catchAllScript = []string{"t", "s1000000", "n10", CatchAllLogDir}

// StartSvscan supervises dir with the embedded scanner (internal/svscan):
// one in-process supervisor per service directory, and a catch-all that
// copies to the console and into CatchAllLogDir. It is the StartSupervisor
// of the machine role.
func StartSvscan(r *reaper.Reaper, dir string, console io.Writer, logf func(string, ...any)) (Supervisor, error) {
	if err := os.MkdirAll(CatchAllLogDir, 0o755); err != nil {
		return nil, fmt.Errorf("catch-all log: %w", err)
	}
	sc, err := svscan.New(svscan.Config{
		Dir:      dir,
		Reaper:   r,
		CatchAll: svscan.CatchAll{Console: console, Script: catchAllScript},
		Logf:     logf,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &scanned{sc: sc, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer func() {
			if p := recover(); p != nil {
				logf("ichi: svscan: panic: %v\n%s", p, debug.Stack())
			}
		}()
		if err := sc.Run(ctx); err != nil {
			logf("ichi: warning: svscan %s: %v", dir, err)
		}
	}()
	return s, nil
}

// scanned is a running scanner as the machine sees it. It owns the goroutine
// that runs the scanner and ends it in DrainLoggers.
type scanned struct {
	sc     *svscan.Scanner
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *scanned) StopServices(deadline time.Duration) { s.sc.StopServices(deadline) }

func (s *scanned) DrainLoggers() {
	s.sc.DrainLoggers()
	s.cancel()
	<-s.done
}

func (s *scanned) Rescan() { s.sc.Rescan() }

// CatchAll is where init's own messages go while the scanner runs.
func (s *scanned) CatchAll() io.Writer { return s.sc.CatchAll() }
