// Package passwd looks accounts up in /etc/passwd without the C library, so
// that a static binary built without cgo resolves names the way getpwnam(3)
// does with the "files" source of nsswitch.conf.
//
// It reads the file on every call and keeps nothing: the tools that use it
// look up one account and exec. It does not consult NIS, LDAP or systemd's
// dynamic users, and it ignores the "+"/"-" compat entries of NIS.
package passwd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// File is where accounts are read from.
const File = "/etc/passwd"

// Account is one line of the passwd file.
type Account struct {
	Name  string
	UID   uint32
	GID   uint32
	Gecos string
	Home  string
	Shell string
}

// ErrUnknown is returned when no line names the account.
var ErrUnknown = errors.New("unknown account")

// Lookup returns the first account called name in File.
func Lookup(name string) (Account, error) {
	return LookupFile(File, name)
}

// LookupFile returns the first account called name in the passwd file path.
func LookupFile(path, name string) (Account, error) {
	f, err := os.Open(path)
	if err != nil {
		return Account{}, fmt.Errorf("passwd %s: %w", path, err)
	}
	defer f.Close()
	a, err := Find(f, name)
	if err != nil && !errors.Is(err, ErrUnknown) {
		return Account{}, fmt.Errorf("passwd %s: %w", path, err)
	}
	return a, err
}

// Find returns the first account called name in r, read as a passwd file.
// Blank lines, comments and lines that are not well formed are skipped, as
// the C library skips them.
func Find(r io.Reader, name string) (Account, error) {
	if name == "" {
		return Account{}, ErrUnknown
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		a, ok := ParseLine(sc.Bytes())
		if ok && a.Name == name {
			return a, nil
		}
	}
	if err := sc.Err(); err != nil {
		return Account{}, err
	}
	return Account{}, ErrUnknown
}

// ParseLine parses one passwd line ("name:password:uid:gid:gecos:home:shell")
// and reports whether it is an account.
func ParseLine(line []byte) (Account, bool) {
	line = bytes.TrimLeft(line, " \t\r\v\f")
	if len(line) == 0 || line[0] == '#' || line[0] == '+' || line[0] == '-' {
		return Account{}, false
	}
	f := bytes.SplitN(line, []byte(":"), 7)
	if len(f) != 7 || len(f[0]) == 0 {
		return Account{}, false
	}
	uid, ok1 := parseID(f[2])
	gid, ok2 := parseID(f[3])
	if !ok1 || !ok2 {
		return Account{}, false
	}
	return Account{
		Name:  string(f[0]),
		UID:   uid,
		GID:   gid,
		Gecos: string(f[4]),
		Home:  string(f[5]),
		Shell: string(f[6]),
	}, true
}

func parseID(b []byte) (uint32, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(b), 10, 32)
	return uint32(n), err == nil
}
