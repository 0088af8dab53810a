package container

import (
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args    []string
		program []string
		group   bool
		verbose bool
		remap   []int
		pdeath  syscall.Signal
		svc     string
		timeout time.Duration
		err     string // substring of the error; "" for none
	}{
		{args: []string{"--", "sh", "-c", "x"}, program: []string{"sh", "-c", "x"}},
		{args: []string{"sh", "-v"}, program: []string{"sh", "-v"}},
		{args: []string{"-g", "--", "sh"}, program: []string{"sh"}, group: true},
		{args: []string{"-gsv", "sh"}, program: []string{"sh"}, group: true, verbose: true},
		{args: []string{"--group", "--verbose", "--subreaper", "--", "sh"}, program: []string{"sh"}, group: true, verbose: true},
		{args: []string{"-e", "3", "-e143", "--remap-exit=0", "--remap-exit", "255", "--", "p"}, program: []string{"p"}, remap: []int{0, 3, 143, 255}},
		{args: []string{"-ge", "9", "p"}, program: []string{"p"}, group: true, remap: []int{9}},
		{args: []string{"-p", "SIGKILL", "p"}, program: []string{"p"}, pdeath: syscall.SIGKILL},
		{args: []string{"-p", "term", "p"}, program: []string{"p"}, pdeath: syscall.SIGTERM},
		{args: []string{"--pdeathsig=10", "p"}, program: []string{"p"}, pdeath: syscall.SIGUSR1},
		{args: []string{"--", "--", "p"}, program: []string{"--", "p"}},
		{args: []string{"-", "p"}, program: []string{"-", "p"}},
		{args: []string{"-S", "/service"}, svc: "/service"},
		{args: []string{"--services=/srv", "-t", "3", "--", "p"}, program: []string{"p"}, svc: "/srv", timeout: 3 * time.Second},
		{args: []string{"-gS/srv", "--stop-timeout", "1m30s"}, group: true, svc: "/srv", timeout: 90 * time.Second},
		{args: []string{"-S", ""}, err: "empty service directory"},
		{args: []string{"-S", "/s", "-t", "soon"}, err: "-t: duration"},
		{args: []string{"--", "--help"}, err: "help"},
		{args: []string{"-h"}, err: "help"},
		{args: []string{"-v", "--help", "p"}, err: "help"},
		{args: []string{}, err: "no program"},
		{args: []string{"-g", "--"}, err: "no program"},
		{args: []string{"-x", "p"}, err: "unknown option -x"},
		{args: []string{"--bogus", "p"}, err: "unknown option --bogus"},
		{args: []string{"-e"}, err: "-e needs an argument"},
		{args: []string{"--remap-exit"}, err: "--remap-exit needs an argument"},
		{args: []string{"-e", "x", "p"}, err: "-e: exit status"},
		{args: []string{"-e", "-1", "p"}, err: "-e: exit status"},
		{args: []string{"--remap-exit=256", "p"}, err: "--remap-exit: exit status"},
		{args: []string{"--group=yes", "p"}, err: "takes no argument"},
		{args: []string{"-p", "SIGNOPE", "p"}, err: "unknown signal"},
		{args: []string{"-p", "0", "p"}, err: "out of range"},
	}
	for _, tt := range tests {
		c, err := Parse(tt.args)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) && !(tt.err == "help" && errors.Is(err, ErrHelp)) {
				t.Errorf("Parse(%q): error %v, want one containing %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.args, err)
			continue
		}
		wantTimeout := tt.timeout
		if wantTimeout == 0 {
			wantTimeout = DefaultStopTimeout
		}
		if c.Services != tt.svc || c.StopTimeout != wantTimeout {
			t.Errorf("Parse(%q): services %q stop timeout %v, want %q %v", tt.args, c.Services, c.StopTimeout, tt.svc, wantTimeout)
		}
		var remap []int
		for code, on := range c.Remap {
			if on {
				remap = append(remap, code)
			}
		}
		if !slices.Equal(c.Program, tt.program) || c.Group != tt.group || c.Verbose != tt.verbose ||
			!slices.Equal(remap, tt.remap) || c.Pdeathsig != tt.pdeath {
			t.Errorf("Parse(%q) = program %q group %v verbose %v remap %v pdeathsig %v; want %q %v %v %v %v",
				tt.args, c.Program, c.Group, c.Verbose, remap, c.Pdeathsig, tt.program, tt.group, tt.verbose, tt.remap, tt.pdeath)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("-g\x00-e\x007\x00--\x00sh")
	f.Add("--pdeathsig=TERM\x00p")
	f.Add("-ge9\x00--remap-exit\x00\x00x")
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		c, err := Parse(args)
		if err != nil {
			return
		}
		// A parsed command line has a program that is a suffix of the
		// arguments, after every option.
		if len(c.Program) == 0 && c.Services == "" || len(c.Program) > len(args) {
			t.Fatalf("Parse(%q): program %q", args, c.Program)
		}
		if !slices.Equal(args[len(args)-len(c.Program):], c.Program) {
			t.Fatalf("Parse(%q): program %q is not the arguments' tail", args, c.Program)
		}
	})
}
