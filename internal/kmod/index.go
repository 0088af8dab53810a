// Package kmod loads Linux kernel modules the way modprobe does, without
// modprobe: the module's dependencies from modules.dep first, each with
// finit_module(2); and coldplug, which reads the MODALIAS of the devices on
// the buses in /sys/bus (those some alias could match) and loads the modules
// whose aliases in modules.alias match, so that a machine's network card or
// disk works without being named.
//
// It reads depmod's text files in /lib/modules/$(uname -r): modules.dep,
// modules.alias, modules.builtin and modules.softdep (the pre: and post:
// modules a module wants beside its symbol dependencies: ext4 wants a
// crc32c). It does not read /etc/modprobe.d (options, blacklists, install
// commands).
package kmod

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Index is what depmod wrote for one kernel: every module's file and
// dependencies, the aliases, and the modules built into the kernel.
type Index struct {
	// Dir is the module directory (/lib/modules/VERSION); paths in Deps
	// are relative to it.
	Dir string
	// Deps maps a module's name to its file and the files it depends on.
	Deps map[string]Module
	// Aliases are modules.alias's lines in order.
	Aliases []Alias
	// Builtin holds the names of the modules built into the kernel.
	Builtin map[string]bool
	// Softdeps maps a module's name to the modules it wants loaded before
	// and after it (modules.softdep).
	Softdeps map[string]Softdep

	// The alias index, built once: by Load, or by the first Lookup of an
	// Index made otherwise, even when loads run side by side. Aliases must
	// not change after that.
	indexOnce sync.Once
	byBus     map[string][]int // aliases by the text before ':' when it is literal
	other     []int            // aliases whose bus part has a wildcard or no ':'
	globBuses []string         // the distinct bus parts that have a wildcard
	colonless bool             // some alias has no ':'
}

// Module is one line of modules.dep.
type Module struct {
	Path string   // relative to the module directory
	Deps []string // files this module needs, as depmod listed them
}

// Softdep is a module's soft dependencies: module names or aliases to load
// before it (Pre) and after it (Post), each optional.
type Softdep struct {
	Pre, Post []string
}

// ErrNotFound is the error Resolve wraps for a name that no module, alias
// or built-in module answers to.
var ErrNotFound = errors.New("not found")

// Alias is one line of modules.alias: a glob pattern and the module it names.
type Alias struct {
	Pattern string
	Module  string
}

// Name returns the module name of a module file: its base name without
// .ko and a compression suffix, with '-' written '_', as the kernel names it.
func Name(path string) string {
	b := filepath.Base(path)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return Normalize(b)
}

// Normalize writes a module name the kernel's way: '-' is '_'.
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// DefaultDir returns /lib/modules/$(uname -r).
func DefaultDir() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "", fmt.Errorf("kmod: kernel release: %w", err)
	}
	return filepath.Join("/lib/modules", strings.TrimSpace(string(b))), nil
}

// Load reads modules.dep, and when present modules.alias, modules.builtin
// and modules.softdep, from dir.
func Load(dir string) (*Index, error) {
	ix := &Index{Dir: dir, Builtin: map[string]bool{}}
	for _, f := range []struct {
		name     string
		optional bool
		parse    func(io.Reader) error
	}{
		{"modules.dep", false, func(r io.Reader) (err error) { ix.Deps, err = ParseDep(r); return err }},
		{"modules.alias", true, func(r io.Reader) (err error) { ix.Aliases, err = ParseAlias(r); return err }},
		{"modules.builtin", true, func(r io.Reader) (err error) { ix.Builtin, err = ParseBuiltin(r); return err }},
		{"modules.softdep", true, func(r io.Reader) (err error) { ix.Softdeps, err = ParseSoftdep(r); return err }},
	} {
		if err := parseFile(dir, f.name, f.optional, f.parse); err != nil {
			return nil, err
		}
	}
	ix.indexOnce.Do(ix.indexAliases)
	return ix, nil
}

// parseFile opens dir/name and hands it to parse; a missing file is no
// error when optional. Errors name the file.
func parseFile(dir, name string, optional bool, parse func(io.Reader) error) error {
	f, err := os.Open(filepath.Join(dir, name))
	if optional && os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kmod: %w", err)
	}
	defer f.Close()
	if err := parse(f); err != nil {
		return fmt.Errorf("kmod: %s: %w", f.Name(), err)
	}
	return nil
}

// ParseSoftdep reads modules.softdep: lines "softdep MODULE pre: NAME...
// post: NAME...", either part optional; a module on several lines gets
// them all.
func ParseSoftdep(r io.Reader) (map[string]Softdep, error) {
	out := map[string]Softdep{}
	err := lines(r, func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "softdep" {
			return fmt.Errorf("line %d: want \"softdep MODULE pre: ... post: ...\", got %q", n, line)
		}
		name := Normalize(f[1])
		sd := out[name]
		var list *[]string
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				list = &sd.Pre
			case "post:":
				list = &sd.Post
			default:
				// A word before pre: or post: is ignored, as modprobe
				// does: Debian's cifs has lines such as "softdep cifs
				// gcm" (its MODULE_SOFTDEP lacks the "pre:").
				if list != nil {
					*list = append(*list, w)
				}
			}
		}
		out[name] = sd
		return nil
	})
	return out, err
}

// ParseDep reads modules.dep: lines "path: dep dep ...". Errors name the
// line.
func ParseDep(r io.Reader) (map[string]Module, error) {
	deps := map[string]Module{}
	err := lines(r, func(n int, line string) error {
		path, rest, ok := strings.Cut(line, ":")
		path = strings.TrimSpace(path)
		if !ok || path == "" || strings.ContainsAny(path, " \t") {
			return fmt.Errorf("line %d: want \"module.ko: dependencies\", got %q", n, line)
		}
		if !strings.Contains(filepath.Base(path), ".ko") {
			return fmt.Errorf("line %d: %q is not a module file (.ko)", n, path)
		}
		m := Module{Path: path, Deps: strings.Fields(rest)}
		for _, d := range m.Deps {
			if !strings.Contains(filepath.Base(d), ".ko") {
				return fmt.Errorf("line %d: dependency %q is not a module file (.ko)", n, d)
			}
		}
		name := Name(path)
		if _, dup := deps[name]; dup {
			return fmt.Errorf("line %d: module %s listed twice", n, name)
		}
		deps[name] = m
		return nil
	})
	return deps, err
}

// ParseAlias reads modules.alias: lines "alias PATTERN MODULE".
func ParseAlias(r io.Reader) ([]Alias, error) {
	var out []Alias
	err := lines(r, func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			return fmt.Errorf("line %d: want \"alias PATTERN MODULE\", got %q", n, line)
		}
		if err := checkPattern(f[1]); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, Alias{Pattern: f[1], Module: Normalize(f[2])})
		return nil
	})
	return out, err
}

// ParseBuiltin reads modules.builtin: one module file per line.
func ParseBuiltin(r io.Reader) (map[string]bool, error) {
	out := map[string]bool{}
	err := lines(r, func(n int, line string) error {
		if strings.ContainsAny(line, " \t") || !strings.Contains(filepath.Base(line), ".ko") {
			return fmt.Errorf("line %d: want a module file, got %q", n, line)
		}
		out[Name(line)] = true
		return nil
	})
	return out, err
}

// lines calls fn with each line that is not blank or a # comment.
func lines(r io.Reader, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	return sc.Err()
}

func (ix *Index) indexAliases() {
	ix.byBus = map[string][]int{}
	ix.other = nil
	ix.globBuses, ix.colonless = nil, false
	for i, a := range ix.Aliases {
		bus, _, ok := strings.Cut(a.Pattern, ":")
		if !ok || strings.ContainsAny(bus, "*?[") {
			ix.other = append(ix.other, i)
			if !ok {
				ix.colonless = true
			} else if !slices.Contains(ix.globBuses, bus) {
				ix.globBuses = append(ix.globBuses, bus)
			}
			continue
		}
		ix.byBus[bus] = append(ix.byBus[bus], i)
	}
}

// Lookup returns the modules whose alias patterns match modalias, in the
// order of modules.alias, each once.
func (ix *Index) Lookup(modalias string) []string {
	ix.indexOnce.Do(ix.indexAliases)
	var cand []int
	if bus, _, ok := strings.Cut(modalias, ":"); ok {
		cand = ix.byBus[bus]
	}
	var out []string
	seen := map[string]bool{}
	try := func(i int) {
		a := ix.Aliases[i]
		if !seen[a.Module] && Match(a.Pattern, modalias) {
			seen[a.Module] = true
			out = append(out, a.Module)
		}
	}
	// Keep file order across the two lists.
	i, j := 0, 0
	for i < len(cand) || j < len(ix.other) {
		if j == len(ix.other) || i < len(cand) && cand[i] < ix.other[j] {
			try(cand[i])
			i++
		} else {
			try(ix.other[j])
			j++
		}
	}
	return out
}

// RunsOn reports whether module can run on the processor whose modalias
// is cpu: true unless the module is bound to processor features (it has
// aliases "cpu:...") and none of them matches.
func (ix *Index) RunsOn(module, cpu string) bool {
	bound := false
	for _, a := range ix.Aliases {
		if a.Module != module || !strings.HasPrefix(a.Pattern, "cpu:") {
			continue
		}
		if Match(a.Pattern, cpu) {
			return true
		}
		bound = true
	}
	return !bound
}

// Resolve returns the files to load for the module or alias name, in an
// order that loads each module after everything it needs; name itself is
// last. A name built into the kernel gives no files. An alias naming several
// modules resolves the first that exists.
func (ix *Index) Resolve(name string) ([]string, error) {
	n := Normalize(name)
	if ix.Builtin[n] {
		return nil, nil
	}
	if _, ok := ix.Deps[n]; !ok {
		mods := ix.Lookup(name)
		for _, m := range mods {
			if ix.Builtin[m] {
				return nil, nil
			}
			if _, ok := ix.Deps[m]; ok {
				n = m
				break
			}
		}
		if _, ok := ix.Deps[n]; !ok {
			return nil, fmt.Errorf("kmod: module %s %w in %s", name, ErrNotFound, filepath.Join(ix.Dir, "modules.dep"))
		}
	}
	var order []string
	state := map[string]int{} // 1: visiting, 2: done
	var visit func(n string, chain []string) error
	visit = func(n string, chain []string) error {
		switch state[n] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("kmod: dependency cycle: %s", strings.Join(append(chain, n), " -> "))
		}
		m, ok := ix.Deps[n]
		if !ok {
			if ix.Builtin[n] {
				state[n] = 2
				return nil
			}
			return fmt.Errorf("kmod: %s needs %s, which is not in modules.dep", chain[len(chain)-1], n)
		}
		state[n] = 1
		for _, d := range m.Deps {
			if err := visit(Name(d), append(chain, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		order = append(order, m.Path)
		return nil
	}
	if err := visit(n, nil); err != nil {
		return nil, err
	}
	return order, nil
}
