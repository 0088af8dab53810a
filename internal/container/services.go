package container

import (
	"context"
	"os"
	"time"

	"github.com/ichi-init/ichi/internal/reaper"
	"github.com/ichi-init/ichi/internal/svscan"
)

// services is the embedded scanner supervising a service directory beside
// the program. Its owner calls stop, which returns once every service is down,
// every logger has drained, and the scanner's goroutine has returned.
type services struct {
	sc      *svscan.Scanner
	timeout time.Duration
	cancel  context.CancelFunc
	done    chan struct{} // closed when Run returned
	err     error         // Run's error, valid after done
}

// startServices starts the scanner on cfg.Services. Services without log/
// write to init's standard output, each line prefixed with their name.
func startServices(cfg Config, r *reaper.Reaper, logf func(string, ...any)) (*services, error) {
	sc, err := svscan.New(svscan.Config{
		Dir:       cfg.Services,
		Reaper:    r,
		CatchAll:  svscan.CatchAll{Console: os.Stdout, Prefix: true},
		Env:       os.Environ(),
		KillAfter: cfg.StopTimeout,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &services{sc: sc, timeout: cfg.StopTimeout, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if s.err = sc.Run(ctx); s.err != nil {
			logf("services %s: %v", cfg.Services, s.err)
		}
	}()
	return s, nil
}

// stop is the shutdown: every service is sent TERM and CONT (KILL after the
// stop timeout) and waited for, then every logger reads its pipe to the end
// and syncs, then the scanner returns.
func (s *services) stop() {
	s.sc.StopServices(s.timeout)
	s.sc.DrainLoggers()
	s.cancel()
	<-s.done
}

// rescan asks the scanner to look at the directory now.
func (s *services) rescan() { s.sc.Rescan() }
