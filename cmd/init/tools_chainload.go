package main

import (
	"github.com/ichi-init/ichi/internal/chainload"
	"github.com/ichi-init/ichi/internal/cli"
)

// The chain-loading tools of daemontools: each changes one thing about the
// process and execs the rest of its arguments.
func init() {
	cli.Register(cli.Tool{Name: "setuidgid", Summary: "run a program as an account's uid and gid", Main: chainload.SetuidgidMain})
	cli.Register(cli.Tool{Name: "envuidgid", Summary: "run a program with UID and GID of an account in its environment", Main: chainload.EnvuidgidMain})
	cli.Register(cli.Tool{Name: "envdir", Summary: "run a program with environment variables from a directory", Main: chainload.EnvdirMain})
	cli.Register(cli.Tool{Name: "softlimit", Summary: "run a program with lower soft resource limits", Main: chainload.SoftlimitMain})
	cli.Register(cli.Tool{Name: "setlock", Summary: "run a program holding a lock on a file", Main: chainload.SetlockMain})
	cli.Register(cli.Tool{Name: "pgrphack", Summary: "run a program in a new session and process group", Main: chainload.PgrphackMain})
}
