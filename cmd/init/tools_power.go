package main

import (
	"github.com/ichi-init/ichi/internal/boot/power"
	"github.com/ichi-init/ichi/internal/cli"
)

func init() {
	cli.Register(cli.Tool{Name: "halt", Summary: "ask init to halt the machine (-f: at once)", Main: power.Main})
	cli.Register(cli.Tool{Name: "poweroff", Summary: "ask init to power the machine off (-f: at once)", Main: power.Main})
	cli.Register(cli.Tool{Name: "reboot", Summary: "ask init to reboot the machine (-f: at once)", Main: power.Main})
}
