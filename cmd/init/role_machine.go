package main

import (
	"os"
	"os/signal"

	"github.com/ichi-init/ichi/internal/initsig"
	"github.com/ichi-init/ichi/internal/machine"
)

// The machine role: init as PID 1 with no flags (internal/machine), which
// supervises the service directory with the embedded scanner. It handles
// every catchable signal, the fatal ones first: the power signals, and the
// others, which it ignores with a debug message rather than die of. A boot
// is not measured in the tenths of a millisecond these subscriptions take
// (each is a round trip to the Go runtime's signal-mask thread), so they are
// made before it starts.
func init() {
	boot := machine.NewMain(machine.StartSvscan)
	roleMains[roleMachine] = func(args []string, signals chan os.Signal) int {
		signal.Notify(signals, initsig.Catchable...)
		return boot(args, signals)
	}
}
