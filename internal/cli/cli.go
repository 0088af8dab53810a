// Package cli holds the conventions every ichi tool shares with daemontools:
// the exit codes (100 for a usage error, 111 for a temporary failure) and the
// form of the messages ("NAME: fatal: ...", "NAME: usage: ...",
// "NAME: warning: ..."), written to standard error.
//
// It is not an option parser: each tool parses its own arguments the way the
// original program does, because daemontools' tools differ in the details.
package cli

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Exit codes shared by daemontools and ichi.
const (
	// ExitUsage is the status of a tool called with bad arguments.
	ExitUsage = 100
	// ExitTemporary is the status of a tool that hit a temporary failure
	// (a file it could not open, a system call that failed).
	ExitTemporary = 111
)

// Stderr is where messages go. Tests may replace it.
var Stderr io.Writer = os.Stderr

// Exit is the function that ends the process. Tests may replace it.
var Exit = os.Exit

// Fatalf prints "NAME: fatal: MESSAGE" and exits with ExitTemporary.
func Fatalf(name, format string, args ...any) {
	FatalCodef(ExitTemporary, name, format, args...)
}

// FatalCodef prints "NAME: fatal: MESSAGE" and exits with code.
func FatalCodef(code int, name, format string, args ...any) {
	fmt.Fprintf(Stderr, "%s: fatal: %s\n", name, fmt.Sprintf(format, args...))
	Exit(code)
}

// Usage prints "NAME: usage: NAME SYNOPSIS" and exits with ExitUsage.
func Usage(name, synopsis string) {
	fmt.Fprintf(Stderr, "%s: usage: %s %s\n", name, name, synopsis)
	Exit(ExitUsage)
}

// Warnf prints "NAME: warning: MESSAGE" and returns.
func Warnf(name, format string, args ...any) {
	fmt.Fprintf(Stderr, "%s: warning: %s\n", name, fmt.Sprintf(format, args...))
}

// Tool is one program the ichi binary can be: a daemontools tool or one of
// ichi's own. Main receives the whole argument vector, argv[0] included, and
// returns the exit status.
type Tool struct {
	Name    string
	Summary string
	Main    func(argv []string) int
}

var registry = map[string]Tool{}

// Register adds a tool to the set the binary dispatches to. It is called from
// init functions in cmd/init, one file per area; registering a name twice is a
// programming error and panics at start-up, before anything runs.
func Register(t Tool) {
	if _, dup := registry[t.Name]; dup {
		panic("cli: tool registered twice: " + t.Name)
	}
	registry[t.Name] = t
}

// Lookup returns the tool called name.
func Lookup(name string) (Tool, bool) {
	t, ok := registry[name]
	return t, ok
}

// Tools returns every registered tool, sorted by name.
func Tools() []Tool {
	out := make([]Tool, 0, len(registry))
	for _, t := range registry {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Tool) int { return strings.Compare(a.Name, b.Name) })
	return out
}
