// Package procstat reads the fields of a /proc/PID/stat line. It is only
// that: callers read the file themselves and pick the fields they need.
package procstat

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
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

// Process is one process as its /proc/PID/stat shows it.
type Process struct {
	Pid, PPid int
	State     byte // R, S, D, Z, T, ...
}

// List returns the processes of the proc file system mounted at proc
// ("/proc"), in its order. A process that ends while it is read is left out.
func List(proc string) ([]Process, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, err
	}
	var ps []Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		f := Fields(b)
		if len(f) <= PPID || f[State] == "" {
			continue
		}
		ppid, _ := strconv.Atoi(f[PPID])
		ps = append(ps, Process{Pid: pid, PPid: ppid, State: f[State][0]})
	}
	return ps, nil
}
