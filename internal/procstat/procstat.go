// Package procstat reads the fields of a /proc/PID/stat line. It is only
// that: callers read the file themselves and pick the fields they need.
package procstat

import (
	"bytes"
	"strings"
)

// Field indexes into what Fields returns (proc(5)'s field numbers minus 3).
const (
	State   = 0 // field 3: R, S, D, Z, T, ...
	PPID    = 1 // field 4
	PGRP    = 2 // field 5
	Session = 3 // field 6
	TTY     = 4 // field 7: tty_nr, 0 without a controlling terminal
	Flags   = 6 // field 9: PF_* flags
)

// Fields returns the fields of a /proc/PID/stat line that follow the
// command name, so that Fields(line)[State] is the state letter. The name,
// in parentheses, may hold spaces and parentheses itself, so the fields are
// counted from the last ')'. It returns nil for a line without one.
func Fields(stat []byte) []string {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(stat[i+1:]))
}
