package main

import (
	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/tools/stamp"
)

// The timestamp tools of daemontools.
func init() {
	cli.Register(cli.Tool{Name: "tai64n", Summary: "put a TAI64N timestamp at the start of each line", Main: stamp.Tai64nMain})
	cli.Register(cli.Tool{Name: "tai64nlocal", Summary: "turn TAI64N timestamps into local time", Main: stamp.Tai64nlocalMain})
}
