package initramfs

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// LibraryDirs are the directories searched for a shared library after the
// object's own RPATH/RUNPATH, in order: where Debian's dynamic loader looks
// without an ld.so.cache (multiarch directories first).
var LibraryDirs = []string{
	"/lib/x86_64-linux-gnu",
	"/usr/lib/x86_64-linux-gnu",
	"/lib64",
	"/usr/lib64",
	"/lib",
	"/usr/lib",
}

// SharedObject is a file a dynamically linked program needs at run time.
type SharedObject struct {
	// Path is where the dynamic loader finds it: the path to put it at in
	// the image.
	Path string
	// Source is the file on the host holding its bytes (Path with
	// symlinks resolved).
	Source string
}

// Needed returns the interpreter and every shared library the ELF
// program at path needs, recursively, by reading DT_NEEDED, PT_INTERP and
// DT_RPATH/DT_RUNPATH from the ELF headers (the way the loader does, without
// running ldd). A statically linked program needs nothing. A library that
// cannot be found is an error naming it and who needs it.
func Needed(path string) ([]SharedObject, error) {
	r := resolver{seen: map[string]bool{}}
	if err := r.walk(path, true); err != nil {
		return nil, err
	}
	slices.SortFunc(r.out, func(a, b SharedObject) int { return strings.Compare(a.Path, b.Path) })
	return r.out, nil
}

type resolver struct {
	seen    map[string]bool
	out     []SharedObject
	class   elf.Class
	machine elf.Machine
}

func (r *resolver) add(p string) (string, error) {
	src, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	r.out = append(r.out, SharedObject{Path: p, Source: src})
	return src, nil
}

func (r *resolver) walk(path string, top bool) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", path, err)
	}
	defer f.Close()
	if top {
		r.class, r.machine = f.Class, f.Machine
		for _, p := range f.Progs {
			if p.Type != elf.PT_INTERP {
				continue
			}
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return fmt.Errorf("initramfs: %s: read interpreter: %w", path, err)
			}
			interp := strings.TrimRight(string(b), "\x00")
			if !r.seen[interp] {
				r.seen[interp] = true
				if _, err := r.add(interp); err != nil {
					return fmt.Errorf("initramfs: %s: interpreter %s: %w", path, interp, err)
				}
			}
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		if errors.Is(err, elf.ErrNoSymbols) {
			return nil
		}
		return fmt.Errorf("initramfs: %s: DT_NEEDED: %w", path, err)
	}
	if len(needed) == 0 {
		return nil
	}
	var dirs []string
	runpath, _ := f.DynString(elf.DT_RUNPATH)
	rpath, _ := f.DynString(elf.DT_RPATH)
	origin := filepath.Dir(path)
	expand := func(list []string) {
		for _, l := range list {
			for _, d := range strings.Split(l, ":") {
				if d == "" {
					continue
				}
				d = strings.ReplaceAll(d, "${ORIGIN}", origin)
				dirs = append(dirs, strings.ReplaceAll(d, "$ORIGIN", origin))
			}
		}
	}
	if len(runpath) == 0 {
		expand(rpath)
	}
	expand(runpath)
	dirs = append(dirs, LibraryDirs...)
	for _, name := range needed {
		p, err := r.find(name, dirs)
		if err != nil {
			return fmt.Errorf("initramfs: %s needs %s: %w", path, name, err)
		}
		if r.seen[p] {
			continue
		}
		r.seen[p] = true
		src, err := r.add(p)
		if err != nil {
			return fmt.Errorf("initramfs: %s needs %s: %w", path, p, err)
		}
		if err := r.walk(src, false); err != nil {
			return err
		}
	}
	return nil
}

// find looks for the library name in dirs and returns the first path
// holding an ELF object of the program's class and machine.
func (r *resolver) find(name string, dirs []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if r.seen[p] {
			return p, nil
		}
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		ok := f.Class == r.class && f.Machine == r.machine
		f.Close()
		if ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("not found in %s", strings.Join(dirs, ":"))
}

// addProgram copies a program and everything it needs into the image.
func (im *Image) addProgram(p Program) error {
	dst := p.Dst
	if dst == "" {
		dst = p.Src
	}
	data, err := os.ReadFile(p.Src)
	if err != nil {
		return fmt.Errorf("initramfs: program: %w", err)
	}
	fi, err := os.Stat(p.Src)
	if err != nil {
		return fmt.Errorf("initramfs: program: %w", err)
	}
	libs, err := Needed(p.Src)
	if err != nil {
		return err
	}
	if err := im.AddFile(dst, fi.Mode(), data); err != nil {
		return err
	}
	for _, l := range libs {
		if im.Has(l.Path) {
			continue
		}
		b, err := os.ReadFile(l.Source)
		if err != nil {
			return fmt.Errorf("initramfs: library for %s: %w", p.Src, err)
		}
		if err := im.AddFile(l.Path, 0o755, b); err != nil {
			return err
		}
		if !slices.Contains(im.Libraries, l.Path) {
			im.Libraries = append(im.Libraries, l.Path)
		}
	}
	slices.Sort(im.Libraries)
	return nil
}
