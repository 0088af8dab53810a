package container

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Config is the container init's command line, parsed.
type Config struct {
	// Program is PROGRAM and its arguments. It may be empty only when
	// Services is set.
	Program []string
	// Group forwards signals to the program's process group instead of
	// the program alone (tini -g).
	Group bool
	// Remap lists exit statuses reported as 0 (tini -e; 128+N counts for
	// a death by signal N).
	Remap [256]bool
	// Pdeathsig is the signal init asks to receive when its parent dies
	// (tini -p); it is then forwarded like any other. Zero: none.
	Pdeathsig syscall.Signal
	// Services is a service directory supervised beside the program.
	Services string
	// StopTimeout is how long services get between TERM and KILL when
	// init stops them.
	StopTimeout time.Duration
	// Verbose logs every forwarded signal and the program's exit.
	Verbose bool
}

// DefaultStopTimeout is Config.StopTimeout when no flag sets it.
const DefaultStopTimeout = 10 * time.Second

// ErrHelp is returned by Parse for -h and --help.
var ErrHelp = errors.New("help requested")

// Help is the text -h prints.
const Help = `usage: init [flags] [--] PROGRAM [ARGS...]
       init [flags] --services DIR [--] [PROGRAM [ARGS...]]

Runs PROGRAM as its main child, forwards every signal it receives to it,
reaps every zombie, and exits with PROGRAM's status (128+N when it died of
signal N). Not PID 1, it makes itself a child subreaper.

With a service directory, the services in it are supervised beside PROGRAM;
the output of those without log/ goes to init's standard output, each line
prefixed with the service's name. When PROGRAM exits, the services are
stopped and their loggers drained before init exits. Without PROGRAM, init
runs until SIGTERM or SIGINT, then stops everything and exits 0.

Flags (short ones may be clustered, as in -gv):
  -g, --group             forward signals to PROGRAM's process group
  -e, --remap-exit CODE   report exit status CODE as 0 (repeatable)
  -p, --pdeathsig SIG     receive SIG (name or number) when init's parent dies
  -s, --subreaper         accepted for tini's command lines; always on
  -S, --services DIR      supervise the service directory DIR
  -t, --stop-timeout DUR  time services get between TERM and KILL when they
                          are stopped (default 10s; "5" means 5s)
  -v, --verbose           log forwarded signals and PROGRAM's exit
  -h, --help              this text
`

// option is one flag of the command line.
type option struct {
	short  byte
	long   string
	hasArg bool
	set    func(c *Config, arg string) error
}

var options = []option{
	{'g', "group", false, func(c *Config, _ string) error { c.Group = true; return nil }},
	{'e', "remap-exit", true, func(c *Config, arg string) error {
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 || n > 255 {
			return fmt.Errorf("exit status %q is not a number from 0 to 255", arg)
		}
		c.Remap[n] = true
		return nil
	}},
	{'p', "pdeathsig", true, func(c *Config, arg string) error {
		sig, err := ParseSignal(arg)
		c.Pdeathsig = sig
		return err
	}},
	{'s', "subreaper", false, func(*Config, string) error { return nil }},
	{'S', "services", true, func(c *Config, arg string) error {
		if arg == "" {
			return errors.New("empty service directory")
		}
		c.Services = arg
		return nil
	}},
	{'t', "stop-timeout", true, func(c *Config, arg string) error {
		d, err := parseDuration(arg)
		c.StopTimeout = d
		return err
	}},
	{'v', "verbose", false, func(c *Config, _ string) error { c.Verbose = true; return nil }},
	{'h', "help", false, func(*Config, string) error { return ErrHelp }},
}

// Parse reads the container init's flags and program from args (the words
// after argv[0]). Options end at "--" or at the first word that is not an
// option; "init -- --help" alone asks for help too, as no program is called
// "--help".
func Parse(args []string) (Config, error) {
	c := Config{StopTimeout: DefaultStopTimeout}
	i := 0
	for i < len(args) {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		i++
		if strings.HasPrefix(a, "--") {
			name, arg, hasEq := strings.Cut(a[2:], "=")
			o := findLong(name)
			if o == nil {
				return c, fmt.Errorf("unknown option --%s", name)
			}
			switch {
			case o.hasArg && !hasEq:
				if i == len(args) {
					return c, fmt.Errorf("option --%s needs an argument", name)
				}
				arg = args[i]
				i++
			case !o.hasArg && hasEq:
				return c, fmt.Errorf("option --%s takes no argument", name)
			}
			if err := o.set(&c, arg); err != nil {
				return c, optionError(err, "--"+name)
			}
			continue
		}
		for j := 1; j < len(a); j++ {
			letter := a[j]
			o := findShort(letter)
			if o == nil {
				return c, fmt.Errorf("unknown option -%c", letter)
			}
			arg := ""
			if o.hasArg {
				switch {
				case j+1 < len(a):
					arg = a[j+1:]
				case i < len(args):
					arg = args[i]
					i++
				default:
					return c, fmt.Errorf("option -%c needs an argument", letter)
				}
				j = len(a)
			}
			if err := o.set(&c, arg); err != nil {
				return c, optionError(err, "-"+string(letter))
			}
		}
	}
	c.Program = args[i:]
	if len(c.Program) == 1 && c.Program[0] == "--help" {
		return c, ErrHelp
	}
	if len(c.Program) == 0 && c.Services == "" {
		return c, errors.New("no program to run and no service directory")
	}
	return c, nil
}

func optionError(err error, name string) error {
	if err == ErrHelp {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

func findLong(name string) *option {
	for i := range options {
		if options[i].long == name {
			return &options[i]
		}
	}
	return nil
}

func findShort(c byte) *option {
	for i := range options {
		if options[i].short == c {
			return &options[i]
		}
	}
	return nil
}

// ParseSignal reads a signal as a number ("9"), a name ("KILL") or a name
// with its prefix ("SIGKILL"), in any case.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %q out of range", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// parseDuration reads a Go duration ("1m30s", "500ms") or whole seconds.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q is neither seconds nor a duration such as 1m30s", s)
	}
	return d, nil
}

// usage writes a usage complaint in daemontools' form.
func usage(w io.Writer, err error) {
	fmt.Fprintf(w, "init: usage: init [-gsv] [-e CODE] [-p SIG] [-S DIR] [-t DURATION] [--] PROGRAM [ARGS...]: %v (init -- --help lists the flags)\n", err)
}
