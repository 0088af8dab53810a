package main

import "github.com/ichi-init/ichi/internal/machine"

// The machine role: init as PID 1 with no flags (internal/machine). The
// service scanner is not wired yet: internal/svscan does not build until
// internal/logd lands.
func init() { roleMains[roleMachine] = machine.NewMain(nil) }
