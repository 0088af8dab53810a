package main

import (
	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/supervise"
)

func init() {
	cli.Register(cli.Tool{Name: "supervise", Summary: "run and restart one service directory (daemontools' supervise, runit's runsv files)", Main: supervise.Main})
}
