package svctl

import (
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/errstr"
	"github.com/ichi-init/ichi/internal/sgetopt"
	"golang.org/x/sys/unix"
)

// svcOptions are svc's option letters; each is also the command byte it
// writes to supervise/control.
const svcOptions = "udopchaitkx"

// svcHelp is what svc prints after a bad option, with status 100.
const svcHelp = "svc options: u up, d down, o once, x exit, p pause, c continue, h hup, a alarm, i interrupt, t term, k kill"

// svcMaxCommands is the size of daemontools' command buffer: options past
// the twentieth distinct one are dropped (there are only eleven).
const svcMaxCommands = 20

// SvcMain is svc: it writes the commands its options name, each once and in
// the order first given, to supervise/control of every directory named.
// A directory that cannot be controlled gets a warning; the status is 0
// even then, 100 for a bad option and 111 when the working directory
// cannot be kept.
func SvcMain(argv []string) int { return svc(argv, cli.Stderr) }

func svc(argv []string, stderr io.Writer) int {
	const name = "svc"
	p := sgetopt.New(argv, svcOptions, stderr)
	var data []byte
	for {
		c := p.Next()
		if c == sgetopt.Done {
			break
		}
		if c == sgetopt.Bad {
			fmt.Fprintln(stderr, svcHelp)
			return cli.ExitUsage
		}
		if len(data) < svcMaxCommands && !slices.Contains(data, byte(c)) {
			data = append(data, byte(c))
		}
	}
	orig, err := os.Open(".")
	if err != nil {
		return fatal(stderr, cli.ExitTemporary, name, "unable to open current directory: %s", errstr.Of(err))
	}
	defer orig.Close()
	for _, dir := range argv[p.Index:] {
		cerr, berr := inDir(orig, dir, func() { control(stderr, name, dir, data) })
		if cerr != nil {
			warn(stderr, name, "unable to chdir to %s: %s", dir, errstr.Of(cerr))
		}
		if berr != nil {
			return fatal(stderr, cli.ExitTemporary, name, "unable to set directory: %s", errstr.Of(berr))
		}
	}
	return 0
}

// control writes data to supervise/control in the working directory, the
// service directory dir.
func control(stderr io.Writer, name, dir string, data []byte) {
	fd, err := openFIFOWrite("supervise/control")
	if err == unix.ENXIO {
		warn(stderr, name, "unable to control %s: supervise not running", dir)
		return
	}
	if err != nil {
		warn(stderr, name, "unable to control %s: %s", dir, errstr.Of(err))
		return
	}
	defer unix.Close(fd)
	if err := writeBlocking(fd, data); err != nil {
		warn(stderr, name, "error writing commands to %s: %s", dir, errstr.Of(err))
	}
}

// writeBlocking turns O_NONBLOCK off on fd and writes all of data.
func writeBlocking(fd int, data []byte) error {
	if err := unix.SetNonblock(fd, false); err != nil {
		return err
	}
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
