package chainload

import (
	"os"
	"syscall"
)

// PgrphackMain is pgrphack: "pgrphack child" runs child in a new session
// (and so a new process group). Like the original it ignores a failing
// setsid, which happens when it already leads a process group.
func PgrphackMain(argv []string) int {
	const name = "pgrphack"
	if len(argv) < 2 {
		return usage(name, "child", 100)
	}
	syscall.Setsid()
	return exec(name, argv[1:], os.Environ())
}
