package machine

import (
	"io"
	"time"

	"github.com/ichi-init/ichi/internal/reaper"
)

// Supervisor is what the machine needs from the supervision of the service
// directory: the first two steps of a shutdown, and a rescan on SIGHUP.
type Supervisor interface {
	// StopServices stops every service (TERM, CONT, KILL after deadline)
	// and returns when all are down.
	StopServices(deadline time.Duration)
	// DrainLoggers lets every logger read its pipe to the end and stop,
	// and ends the supervision.
	DrainLoggers()
	// Rescan looks at the service directory again now.
	Rescan()
}

// StartSupervisor starts supervising dir with processes started through r,
// the catch-all output going to console.
type StartSupervisor func(r *reaper.Reaper, dir string, console io.Writer, logf func(string, ...any)) (Supervisor, error)
