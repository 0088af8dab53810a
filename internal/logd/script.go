package logd

import (
	"errors"
	"fmt"
	"strings"
)

// Limits and defaults of the s and n actions, as multilog applies them.
const (
	MinSize     = 4096     // smallest s: a smaller value is raised to it
	MaxSize     = 16777215 // largest s: a larger value is lowered to it
	DefaultSize = 99999    // s when the script sets none
	MinNum      = 2        // smallest n: a smaller value is raised to it
	DefaultNum  = 10       // n when the script sets none
)

// lineMax is how much of a line multilog keeps for selection, alerts and
// status files: the timestamp (when t is on) and the first characters of the
// line, 1000 bytes in all. The rest of a longer line is copied to the log
// directories unexamined.
const lineMax = 1000

// alertMax is how much of a line the e action prints.
const alertMax = 200

// DirSpec is one automatically rotated log directory of a script, with the
// s, n and ! settings in force where the script names it.
type DirSpec struct {
	// Path is the directory as the script names it; it starts with '.' or
	// '/'. A relative path is relative to Options.Dir.
	Path string
	// Size is the largest size of current, in bytes (MinSize..MaxSize).
	Size int
	// Num is the number of files kept: num-1 old files and current.
	Num int
	// Processor is the shell command run on each full current, when
	// HasProcessor is set. An empty command ("!" alone) is a processor
	// too: it turns every file into an empty one, as multilog's does.
	Processor    string
	HasProcessor bool
}

type actionKind uint8

const (
	actSelect   actionKind = iota // +pattern
	actDeselect                   // -pattern
	actAlert                      // e
	actStatus                     // =file
	actDir                        // ./dir or /dir
)

// action is one per-line action of a script; index is the position of its
// directory in Dirs (actDir) or of its file in StatusFiles (actStatus).
type action struct {
	kind    actionKind
	pattern string
	index   int
}

// Script is a parsed multilog script.
type Script struct {
	// Timestamp is set when the first action is t: every line is prefixed
	// with a TAI64N label and a space before anything else looks at it.
	Timestamp bool
	// Dirs are the log directories, in the order of the script.
	Dirs []DirSpec
	// StatusFiles are the files of the =file actions, in script order.
	StatusFiles []string

	actions []action // per-line actions, in script order
	perLine bool     // some action other than a directory looks at lines
}

// ParseScript parses multilog's arguments (without the program name). It
// accepts everything daemontools 0.76's multilog accepts, the same way: an
// action is known by its first character, an unknown or empty action is
// ignored, t counts only as the first action, and the numbers of s and n are
// read as far as they are digits (none is 0) and then clamped. The only error
// is an argument holding a NUL byte, which cannot come from a command line.
func ParseScript(args []string) (*Script, error) {
	s := &Script{}
	size, num := uint64(DefaultSize), uint64(DefaultNum)
	processor, hasProcessor := "", false
	for i, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, fmt.Errorf("multilog action %d %q: %w", i+1, a, errNUL)
		}
		if a == "" {
			continue
		}
		switch a[0] {
		case 't':
			if i == 0 {
				s.Timestamp = true
			}
		case 's':
			size = scanUlong(a[1:])
			size = max(size, MinSize)
			size = min(size, MaxSize)
		case 'n':
			num = max(scanUlong(a[1:]), MinNum)
		case '!':
			processor, hasProcessor = a[1:], true
		case '+':
			s.actions = append(s.actions, action{kind: actSelect, pattern: a[1:]})
			s.perLine = true
		case '-':
			s.actions = append(s.actions, action{kind: actDeselect, pattern: a[1:]})
			s.perLine = true
		case 'e':
			s.actions = append(s.actions, action{kind: actAlert})
			s.perLine = true
		case '=':
			s.actions = append(s.actions, action{kind: actStatus, index: len(s.StatusFiles)})
			s.StatusFiles = append(s.StatusFiles, a[1:])
			s.perLine = true
		case '.', '/':
			s.actions = append(s.actions, action{kind: actDir, index: len(s.Dirs)})
			s.Dirs = append(s.Dirs, DirSpec{
				Path:         a,
				Size:         int(size),
				Num:          int(min(num, 1<<31)),
				Processor:    processor,
				HasProcessor: hasProcessor,
			})
		}
	}
	return s, nil
}

var errNUL = errors.New("contains a NUL byte")

// scanUlong reads the decimal digits at the start of s as an unsigned long,
// wrapping on overflow as C's unsigned arithmetic does; no digit gives 0.
func scanUlong(s string) uint64 {
	var u uint64
	for i := 0; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		u = u*10 + uint64(s[i]-'0')
	}
	return u
}
