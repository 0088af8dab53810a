// Command init is ichi: one static binary that is a PID 1 for machines, an
// init for containers, and every daemontools tool.
//
// It picks its role from its argument vector:
//
//   - called by a tool's name (a symlink such as svstat -> init), or as
//     "init TOOL ARGS...", it is that tool;
//   - called with flags, or with "--" and a program, it is the container init;
//   - run as process 1 with no flags, it boots the machine.
//
// "init --help" lists every role and tool.
//
// The Go runtime's container-aware GOMAXPROCS is off: init would otherwise
// read /proc/self/cgroup and /proc/self/mountinfo at every start, keep two
// cgroup files open (tools such as setlock would not get descriptor 3 as
// daemontools' do) and wake up every second to read them again. An init is
// idle, and its parallelism is not what a CPU quota is meant for.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ichi-init/ichi/internal/cli"
)

// A role is what the binary was asked to be.
type role int

const (
	roleHelp role = iota
	roleTool
	roleMachine
	roleContainer
	roleUsage
	roleListTools
)

// roleMain is the entry point of the machine and container roles: args are
// the arguments after argv[0]. Each role subscribes signals to what it
// handles, initsig.Fatal first: until then, one of those ends init (exit
// status 2), as it would any Go program. Each role's file sets its entry in
// roleMains.
type roleMain func(args []string, signals chan os.Signal) int

var roleMains = map[role]roleMain{}

func main() {
	r, argv := chooseRole(os.Args, os.Getpid())
	switch r {
	case roleTool:
		t, _ := cli.Lookup(filepath.Base(argv[0]))
		os.Exit(t.Main(argv))
	case roleMachine, roleContainer:
		run, ok := roleMains[r]
		if !ok {
			fmt.Fprintln(os.Stderr, "init: fatal: this role is not part of this build")
			os.Exit(cli.ExitTemporary)
		}
		os.Exit(run(argv[1:], make(chan os.Signal, 64)))
	case roleHelp:
		printHelp(os.Stdout)
	case roleListTools:
		for _, t := range cli.Tools() {
			fmt.Println(t.Name)
		}
	default:
		fmt.Fprintln(os.Stderr, "init: usage: init [flags] [-- PROGRAM [ARGS...]] | init TOOL [ARGS...] (see init --help)")
		os.Exit(cli.ExitUsage)
	}
}

// chooseRole decides what the binary is from its argument vector and pid.
// It returns the argument vector the role gets: for a tool, argv[0] is the
// tool's name.
func chooseRole(argv []string, pid int) (role, []string) {
	if len(argv) == 0 {
		argv = []string{"init"}
	}
	if _, ok := cli.Lookup(filepath.Base(argv[0])); ok {
		return roleTool, argv
	}
	if len(argv) > 1 {
		if _, ok := cli.Lookup(argv[1]); ok {
			return roleTool, argv[1:]
		}
		switch argv[1] {
		case "--help", "-h", "help":
			return roleHelp, argv
		case "--list-tools":
			return roleListTools, argv
		}
		if strings.HasPrefix(argv[1], "-") {
			return roleContainer, argv
		}
	}
	if pid == 1 {
		// The kernel passes command-line words without '=' as arguments
		// (for example "single"); the machine role reads /proc/cmdline
		// itself and ignores them.
		return roleMachine, argv
	}
	return roleUsage, argv
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `ichi: a PID 1 for Linux machines and containers, and the daemontools tools.

Roles:
  init                          as process 1: boot the machine and supervise /service
  init [flags] -- PROGRAM ARGS  container init: run PROGRAM, forward signals, reap
                                zombies, exit with PROGRAM's status (init -- --help
                                lists the flags)
  init TOOL ARGS                run one tool; a symlink named TOOL does the same

Tools:
`)
	for _, t := range cli.Tools() {
		fmt.Fprintf(w, "  %-12s %s\n", t.Name, t.Summary)
	}
}
