package main

import (
	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/logd"
)

func init() {
	cli.Register(cli.Tool{
		Name:    "multilog",
		Summary: "read lines from stdin, stamp, select and append them to rotated logs",
		Main:    logd.MultilogMain,
	})
}
