package main

import (
	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/svscan"
)

func init() {
	cli.Register(cli.Tool{Name: "svscan", Summary: "supervise every service directory of a directory (daemontools' svscan, in one process)", Main: svscan.Main})
	cli.Register(cli.Tool{Name: "svscanctl", Summary: "ask a running scanner to rescan its directory now", Main: svscan.CtlMain})
}
