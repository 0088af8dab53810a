package main

import (
	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/svctl"
)

func init() {
	cli.Register(cli.Tool{Name: "svc", Summary: "control a supervised service (daemontools)", Main: svctl.SvcMain})
	cli.Register(cli.Tool{Name: "svstat", Summary: "print the status of supervised services (daemontools)", Main: svctl.SvstatMain})
	cli.Register(cli.Tool{Name: "svok", Summary: "check that a supervisor is running (daemontools)", Main: svctl.SvokMain})
	cli.Register(cli.Tool{Name: "svwait", Summary: "wait until services are up, ready or down", Main: svctl.SvwaitMain})
	cli.Register(cli.Tool{Name: "svls", Summary: "overview of every service of a scan directory (-j: JSON)", Main: svctl.SvlsMain})
}
