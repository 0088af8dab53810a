package main

import (
	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/vmagent"
)

func init() {
	cli.Register(cli.Tool{Name: "vmagent", Summary: "serve a QEMU host's commands on a virtio serial port (for vmtest)", Main: vmagent.Main})
}
