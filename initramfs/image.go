package initramfs

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pierrec/lz4/v4"
)

// Image is a built image: a tree of entries not yet written.
type Image struct {
	// KernelVersion is the version of the kernel whose modules the image
	// carries (empty when it carries none).
	KernelVersion string
	// Modules are the names of the modules in the image, dependencies
	// included, sorted.
	Modules []string
	// Libraries are the host paths of the shared libraries copied for the
	// programs, sorted.
	Libraries []string

	nodes map[string]*node
}

type nodeKind int

const (
	kindDir nodeKind = iota
	kindFile
	kindSymlink
	kindCharDev
)

type node struct {
	kind         nodeKind
	perm         uint32
	data         []byte
	target       string
	major, minor uint32
}

func newImage() *Image {
	return &Image{nodes: map[string]*node{}}
}

// clean turns an image path into the archive's form: no leading slash, no
// dots. It rejects paths that leave the root.
func clean(p string) (string, error) {
	c := path.Clean("/" + p)
	if c == "/" {
		return "", fmt.Errorf("initramfs: path %q names the root", p)
	}
	if slices.Contains(strings.Split(p, "/"), "..") {
		return "", fmt.Errorf("initramfs: path %q has a .. element", p)
	}
	return c[1:], nil
}

// mkdirs makes every parent of p a directory (0755) if it is not one yet.
func (im *Image) mkdirs(p string) error {
	dir := path.Dir(p)
	if dir == "." {
		return nil
	}
	if n, ok := im.nodes[dir]; ok {
		if n.kind != kindDir {
			return fmt.Errorf("initramfs: %s: parent /%s is not a directory", p, dir)
		}
		return nil
	}
	if err := im.mkdirs(dir); err != nil {
		return err
	}
	im.nodes[dir] = &node{kind: kindDir, perm: 0o755}
	return nil
}

func (im *Image) put(p string, n *node) error {
	c, err := clean(p)
	if err != nil {
		return err
	}
	if old, ok := im.nodes[c]; ok && old.kind == kindDir && n.kind == kindDir {
		old.perm = n.perm
		return nil
	}
	if old, ok := im.nodes[c]; ok && old.kind == kindDir {
		// Replacing a directory drops its contents.
		for k := range im.nodes {
			if strings.HasPrefix(k, c+"/") {
				delete(im.nodes, k)
			}
		}
	}
	if err := im.mkdirs(c); err != nil {
		return err
	}
	im.nodes[c] = n
	return nil
}

// AddFile puts a regular file at p.
func (im *Image) AddFile(p string, perm fs.FileMode, data []byte) error {
	return im.put(p, &node{kind: kindFile, perm: modeBits(perm), data: data})
}

// AddDir puts a directory at p.
func (im *Image) AddDir(p string, perm fs.FileMode) error {
	return im.put(p, &node{kind: kindDir, perm: modeBits(perm)})
}

// AddSymlink puts a symbolic link at p pointing at target.
func (im *Image) AddSymlink(p, target string) error {
	return im.put(p, &node{kind: kindSymlink, target: target})
}

// AddCharDev puts a character device node at p.
func (im *Image) AddCharDev(p string, perm fs.FileMode, major, minor uint32) error {
	return im.put(p, &node{kind: kindCharDev, perm: modeBits(perm), major: major, minor: minor})
}

// modeBits turns a Go file mode's permission and special bits into the
// low twelve bits of a stat(2) mode.
func modeBits(m fs.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// Has reports whether the image has an entry at p.
func (im *Image) Has(p string) bool {
	c, err := clean(p)
	if err != nil {
		return false
	}
	_, ok := im.nodes[c]
	return ok
}

// Paths returns every path in the image, sorted, each with a leading slash.
func (im *Image) Paths() []string {
	out := make([]string, 0, len(im.nodes))
	for k := range im.nodes {
		out = append(out, "/"+k)
	}
	slices.Sort(out)
	return out
}

// ReadFile returns the content of the regular file at p.
func (im *Image) ReadFile(p string) ([]byte, error) {
	c, err := clean(p)
	if err != nil {
		return nil, err
	}
	n, ok := im.nodes[c]
	if !ok || n.kind != kindFile {
		return nil, fmt.Errorf("initramfs: %s: not a file in the image", p)
	}
	return n.data, nil
}

// Readlink returns the target of the symlink at p.
func (im *Image) Readlink(p string) (string, error) {
	c, err := clean(p)
	if err != nil {
		return "", err
	}
	n, ok := im.nodes[c]
	if !ok || n.kind != kindSymlink {
		return "", fmt.Errorf("initramfs: %s: not a symlink in the image", p)
	}
	return n.target, nil
}

// WriteCPIO writes the image as an uncompressed newc cpio archive.
func (im *Image) WriteCPIO(w io.Writer) error {
	keys := make([]string, 0, len(im.nodes))
	for k := range im.nodes {
		keys = append(keys, k)
	}
	// Sorted paths put every directory before its contents: a parent is a
	// prefix of its children's paths.
	slices.Sort(keys)
	cw := newCPIOWriter(w)
	for _, k := range keys {
		n := im.nodes[k]
		var err error
		switch n.kind {
		case kindDir:
			err = cw.Dir(k, n.perm)
		case kindFile:
			err = cw.File(k, n.perm, n.data)
		case kindSymlink:
			err = cw.Symlink(k, n.target)
		case kindCharDev:
			err = cw.CharDev(k, n.perm, n.major, n.minor)
		}
		if err != nil {
			return fmt.Errorf("initramfs: /%s: %w", k, err)
		}
	}
	return cw.Close()
}

// WriteTo writes the image as an LZ4-compressed newc cpio archive in the
// legacy frame format, the form of LZ4 the kernel unpacks an initrd from
// (lz4 -l). LZ4 rather than gzip because the kernel unpacks it faster: in a
// TCG guest, a 27 MB image reached /init 0.3 s sooner than with gzip, even
// though the file is a third larger. The bytes depend only on the image's
// contents.
func (im *Image) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	zw := lz4.NewWriter(cw)
	if err := zw.Apply(lz4.LegacyOption(true)); err != nil {
		return 0, fmt.Errorf("initramfs: lz4: %w", err)
	}
	if err := im.WriteCPIO(zw); err != nil {
		return cw.n, err
	}
	if err := zw.Close(); err != nil {
		return cw.n, fmt.Errorf("initramfs: lz4: %w", err)
	}
	return cw.n, nil
}

// WriteFile writes the compressed image to the file name, replacing it
// atomically.
func (im *Image) WriteFile(name string) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".initramfs-*")
	if err != nil {
		return fmt.Errorf("initramfs: write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := im.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("initramfs: write %s: %w", name, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("initramfs: write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("initramfs: write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("initramfs: write %s: %w", name, err)
	}
	return nil
}

// Bytes returns the compressed image.
func (im *Image) Bytes() ([]byte, error) {
	var b bytes.Buffer
	if _, err := im.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
