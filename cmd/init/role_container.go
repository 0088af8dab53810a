package main

import "github.com/ichi-init/ichi/internal/container"

// The container role: "init [flags] -- PROGRAM [ARGS]" (internal/container).
func init() { roleMains[roleContainer] = container.Main }
