package initramfs

import (
	"fmt"
	"io"
	"strings"
)

// cpioWriter writes the "newc" cpio format (magic 070701), the only format
// the kernel unpacks from an initramfs. Every header field is a fixed value
// except the name, mode, size and inode number, which the writer assigns in
// order, so the same sequence of entries always gives the same bytes.
//
// The format is small enough that a writer of our own is simpler than a
// dependency: a 110-byte ASCII header, the name with its NUL, padding to four
// bytes, the data, padding to four bytes; a last entry named TRAILER!!!.
type cpioWriter struct {
	w     io.Writer
	ino   uint32
	off   int64
	err   error
	pad   [4]byte
	ended bool
}

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: w, ino: 1}
}

// File type bits of a cpio mode, as in stat(2).
const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

// entry writes one header, its name and its data. name has no leading slash.
func (c *cpioWriter) entry(name string, mode, nlink, rmajor, rminor uint32, data []byte) error {
	if c.err != nil {
		return c.err
	}
	if strings.HasPrefix(name, "/") || name == "" {
		return fmt.Errorf("cpio: bad entry name %q", name)
	}
	ino := c.ino
	c.ino++
	if name == "TRAILER!!!" {
		ino = 0
	}
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize, check.
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rmajor, rminor, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write([]byte(name))
	c.write([]byte{0})
	c.align()
	c.write(data)
	c.align()
	return c.err
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil || len(b) == 0 {
		return
	}
	n, err := c.w.Write(b)
	c.off += int64(n)
	if err != nil {
		c.err = fmt.Errorf("cpio: write: %w", err)
	}
}

func (c *cpioWriter) align() {
	if r := c.off % 4; r != 0 {
		c.write(c.pad[:4-r])
	}
}

// Dir writes a directory entry.
func (c *cpioWriter) Dir(name string, perm uint32) error {
	return c.entry(name, modeDir|perm&0o7777, 2, 0, 0, nil)
}

// File writes a regular file.
func (c *cpioWriter) File(name string, perm uint32, data []byte) error {
	return c.entry(name, modeRegular|perm&0o7777, 1, 0, 0, data)
}

// Symlink writes a symbolic link whose target is target.
func (c *cpioWriter) Symlink(name, target string) error {
	return c.entry(name, modeSymlink|0o777, 1, 0, 0, []byte(target))
}

// CharDev writes a character device node.
func (c *cpioWriter) CharDev(name string, perm, major, minor uint32) error {
	return c.entry(name, modeCharDev|perm&0o7777, 1, major, minor, nil)
}

// Close writes the trailer. It does not close the underlying writer.
func (c *cpioWriter) Close() error {
	if c.ended {
		return c.err
	}
	c.ended = true
	return c.entry("TRAILER!!!", 0, 1, 0, 0, nil)
}
