package svctl

import (
	"fmt"
	"io"

	"github.com/ichi-init/ichi/internal/cli"
	"github.com/ichi-init/ichi/internal/errstr"
	"golang.org/x/sys/unix"
)

// SvokMain is svok: it exits 0, silently, when a supervisor runs in the
// directory named, and 100 when none does (supervise/ok is missing or has
// no reader). It exits 111 with a message when the directory or the FIFO
// cannot be opened for another reason, and 100 with a usage line when no
// directory is named. Further arguments are ignored, as in daemontools.
func SvokMain(argv []string) int { return svok(argv, cli.Stderr) }

func svok(argv []string, stderr io.Writer) int {
	const name = "svok"
	if len(argv) < 2 {
		fmt.Fprintln(stderr, "svok: usage: svok dir")
		return cli.ExitUsage
	}
	dir := argv[1]
	if err := unix.Chdir(dir); err != nil {
		return fatal(stderr, cli.ExitTemporary, name, "unable to chdir to %s: %s", dir, errstr.Of(err))
	}
	fd, err := openFIFOWrite("supervise/ok")
	switch err {
	case nil:
		unix.Close(fd)
		return 0
	case unix.ENOENT, unix.ENXIO:
		return cli.ExitUsage
	}
	return fatal(stderr, cli.ExitTemporary, name, "unable to open %s/supervise/ok: %s", dir, errstr.Of(err))
}
