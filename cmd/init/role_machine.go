package main

import "github.com/ichi-init/ichi/internal/machine"

// The machine role: init as PID 1 with no flags (internal/machine), which
// supervises the service directory with the embedded scanner.
func init() { roleMains[roleMachine] = machine.NewMain(machine.StartSvscan) }
