package mount

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// AttachConsole makes path (normally /dev/console) the process's standard
// input, output and error. The kernel starts init with them on the console
// already when /dev/console existed in the initramfs; after devtmpfs is
// mounted this makes sure.
func AttachConsole(path string) error {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("console %s: %w", path, err)
	}
	for i := 0; i < 3; i++ {
		if err := unix.Dup3(fd, i, 0); err != nil {
			unix.Close(fd)
			return fmt.Errorf("console %s: dup to %d: %w", path, i, err)
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
	return nil
}
