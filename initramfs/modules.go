package initramfs

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// ModuleInfo is what a kernel module says about itself in its .modinfo
// section, the fields depmod reads.
type ModuleInfo struct {
	// Name is the module's name, with '-' written '_'.
	Name string
	// Path is the module's file relative to the module directory, e.g.
	// kernel/drivers/net/virtio_net.ko.
	Path string
	// Depends are the names of the modules it needs loaded first.
	Depends []string
	// Aliases are the modalias patterns it serves (alias= lines).
	Aliases []string
	// Softdeps are its softdep= lines, e.g. "pre: crc32c".
	Softdeps []string
}

// ModuleName turns a module file or modprobe name into the kernel's form:
// no directory, no .ko suffix, '-' as '_'.
func ModuleName(s string) string {
	s = filepath.Base(s)
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(s, ext) {
			s = strings.TrimSuffix(s, ext)
			break
		}
	}
	return strings.ReplaceAll(s, "-", "_")
}

// ModuleTree is the module directory of one kernel: which file holds which
// module, and which are built in.
type ModuleTree struct {
	// Dir is /lib/modules/VERSION on the host.
	Dir string
	// Files maps a module name to its path relative to Dir.
	Files map[string]string
	// Builtin holds the names of modules compiled into the kernel.
	Builtin map[string]bool
	// Aliases are the lines of the tree's modules.alias (pattern, module),
	// when depmod wrote one; they resolve softdep names such as
	// crypto-crc32c.
	Aliases [][2]string
}

// OpenModuleTree indexes the module directory dir: the .ko files under it
// and modules.builtin.
func OpenModuleTree(dir string) (*ModuleTree, error) {
	t := &ModuleTree{Dir: dir, Files: map[string]string{}, Builtin: map[string]bool{}}
	// The directory itself may be a symlink (.cache/kernel/modules is);
	// the walk starts from its target.
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("initramfs: modules %s: %w", dir, err)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.Contains(d.Name(), ".ko") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := ModuleName(d.Name())
		if old, ok := t.Files[name]; !ok || rel < old {
			t.Files[name] = rel
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("initramfs: modules %s: %w", dir, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			t.Builtin[ModuleName(l)] = true
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.alias")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "alias" {
				t.Aliases = append(t.Aliases, [2]string{f[1], ModuleName(f[2])})
			}
		}
	}
	return t, nil
}

// Info reads the .modinfo section of the module called name.
func (t *ModuleTree) Info(name string) (ModuleInfo, error) {
	name = ModuleName(name)
	rel, ok := t.Files[name]
	if !ok {
		return ModuleInfo{}, fmt.Errorf("initramfs: module %s: not in %s", name, t.Dir)
	}
	if !strings.HasSuffix(rel, ".ko") {
		return ModuleInfo{}, fmt.Errorf("initramfs: module %s: %s is compressed; only uncompressed .ko files are read", name, rel)
	}
	info, err := ReadModuleInfo(filepath.Join(t.Dir, rel))
	if err != nil {
		return ModuleInfo{}, err
	}
	info.Path = rel
	if info.Name == "" {
		info.Name = name
	}
	return info, nil
}

// ReadModuleInfo reads the .modinfo section of the module file path.
func ReadModuleInfo(path string) (ModuleInfo, error) {
	f, err := elf.Open(path)
	if err != nil {
		return ModuleInfo{}, fmt.Errorf("initramfs: module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return ModuleInfo{}, fmt.Errorf("initramfs: module %s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return ModuleInfo{}, fmt.Errorf("initramfs: module %s: .modinfo: %w", path, err)
	}
	info := parseModinfo(data)
	info.Path = path
	return info, nil
}

// parseModinfo reads the NUL-separated key=value strings of a .modinfo
// section.
func parseModinfo(data []byte) ModuleInfo {
	var info ModuleInfo
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			info.Name = ModuleName(v)
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d != "" {
					info.Depends = append(info.Depends, ModuleName(d))
				}
			}
		case "alias":
			info.Aliases = append(info.Aliases, v)
		case "softdep":
			info.Softdeps = append(info.Softdeps, v)
		}
	}
	return info
}

// ModuleSet is a closed set of modules: the ones asked for and everything
// they depend on.
type ModuleSet struct {
	Tree *ModuleTree
	// Infos maps each module in the set to its information.
	Infos map[string]ModuleInfo
}

// Resolve returns the modules named and their dependencies: depends=, and
// the modules softdep= lines name, directly or by an alias of the tree's
// modules.alias (ext4's "pre: crypto-crc32c" brings crc32c_generic and
// crc32c_intel). Built-in modules are left out; a name asked for that is
// neither a file nor built in is an error, a soft dependency that resolves
// to nothing is not.
func (t *ModuleTree) Resolve(names []string) (*ModuleSet, error) {
	s := &ModuleSet{Tree: t, Infos: map[string]ModuleInfo{}}
	var add func(name, why string, soft bool) error
	add = func(name, why string, soft bool) error {
		if !soft {
			name = ModuleName(name)
		}
		if _, ok := s.Infos[ModuleName(name)]; ok || t.Builtin[ModuleName(name)] {
			return nil
		}
		if _, ok := t.Files[ModuleName(name)]; !ok {
			if soft {
				// A softdep may name an alias (crypto-crc32c):
				// every module serving it comes along.
				for _, m := range t.resolveAlias(name) {
					if _, ok := t.Files[m]; !ok {
						continue
					}
					if err := add(m, "", true); err != nil {
						return err
					}
				}
				return nil
			}
			return fmt.Errorf("initramfs: module %s%s: not found in %s and not built in", name, why, t.Dir)
		}
		name = ModuleName(name)
		info, err := t.Info(name)
		if err != nil {
			return err
		}
		s.Infos[name] = info
		for _, d := range info.Depends {
			if err := add(d, " (needed by "+name+")", false); err != nil {
				return err
			}
		}
		for _, sd := range info.Softdeps {
			for _, w := range strings.Fields(sd) {
				if !strings.HasSuffix(w, ":") {
					if err := add(w, "", true); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	for _, n := range names {
		if err := add(n, "", false); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// resolveAlias returns the modules whose modules.alias patterns match
// name, as modprobe matches them (shell globs).
func (t *ModuleTree) resolveAlias(name string) []string {
	var out []string
	for _, a := range t.Aliases {
		if ok, _ := path.Match(a[0], name); ok && !slices.Contains(out, a[1]) {
			out = append(out, a[1])
		}
	}
	return out
}

// Names returns the modules of the set, sorted.
func (s *ModuleSet) Names() []string {
	out := make([]string, 0, len(s.Infos))
	for n := range s.Infos {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// LoadOrder returns the dependencies of the module name in the order
// modules.dep lists them: every module before the ones it depends on, so a
// loader loads them from the last to the first.
func (s *ModuleSet) LoadOrder(name string) []string {
	var order []string
	seen := map[string]bool{name: true}
	var visit func(n string)
	visit = func(n string) {
		for _, d := range s.Infos[n].Depends {
			if seen[d] {
				continue
			}
			seen[d] = true
			if _, ok := s.Infos[d]; !ok {
				continue // built in
			}
			visit(d)
			order = append(order, d)
		}
	}
	visit(name)
	slices.Reverse(order)
	return order
}

// ModulesDep returns modules.dep for the set, in depmod's text format:
// "kernel/a.ko: kernel/b.ko kernel/c.ko", one line per module, sorted by
// path.
func (s *ModuleSet) ModulesDep() []byte {
	var b bytes.Buffer
	for _, n := range s.sortedByPath() {
		info := s.Infos[n]
		b.WriteString(info.Path)
		b.WriteByte(':')
		for _, d := range s.LoadOrder(n) {
			b.WriteByte(' ')
			b.WriteString(s.Infos[d].Path)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ModulesAlias returns modules.alias for the set: "alias PATTERN NAME" for
// every alias= line of every module.
func (s *ModuleSet) ModulesAlias() []byte {
	var b bytes.Buffer
	b.WriteString("# Aliases extracted from modules themselves.\n")
	for _, n := range s.sortedByPath() {
		for _, a := range s.Infos[n].Aliases {
			fmt.Fprintf(&b, "alias %s %s\n", a, n)
		}
	}
	return b.Bytes()
}

// ModulesSoftdep returns modules.softdep for the set.
func (s *ModuleSet) ModulesSoftdep() []byte {
	var b bytes.Buffer
	b.WriteString("# Soft dependencies extracted from modules themselves.\n")
	for _, n := range s.sortedByPath() {
		for _, sd := range s.Infos[n].Softdeps {
			fmt.Fprintf(&b, "softdep %s %s\n", n, sd)
		}
	}
	return b.Bytes()
}

func (s *ModuleSet) sortedByPath() []string {
	names := s.Names()
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(s.Infos[a].Path, s.Infos[b].Path) })
	return names
}

// addModules puts the set's module files and dependency files into the
// image under /lib/modules/VERSION.
func (im *Image) addModules(k Kernel, names []string) error {
	if k.Modules == "" {
		return fmt.Errorf("initramfs: %d modules asked for but no kernel module directory given", len(names))
	}
	tree, err := OpenModuleTree(k.Modules)
	if err != nil {
		return err
	}
	set, err := tree.Resolve(names)
	if err != nil {
		return err
	}
	base := "/lib/modules/" + k.Version
	for _, n := range set.Names() {
		info := set.Infos[n]
		data, err := os.ReadFile(filepath.Join(tree.Dir, info.Path))
		if err != nil {
			return fmt.Errorf("initramfs: module %s: %w", n, err)
		}
		if err := im.AddFile(base+"/"+info.Path, 0o644, data); err != nil {
			return err
		}
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo", "modules.order"} {
		data, err := os.ReadFile(filepath.Join(tree.Dir, f))
		if err != nil {
			continue
		}
		if f == "modules.order" {
			data = filterOrder(data, set)
		}
		if err := im.AddFile(base+"/"+f, 0o644, data); err != nil {
			return err
		}
	}
	for name, data := range map[string][]byte{
		"modules.dep":     set.ModulesDep(),
		"modules.alias":   set.ModulesAlias(),
		"modules.softdep": set.ModulesSoftdep(),
	} {
		if err := im.AddFile(base+"/"+name, 0o644, data); err != nil {
			return err
		}
	}
	im.Modules = set.Names()
	return nil
}

// filterOrder keeps the lines of modules.order that name a module of the
// set.
func filterOrder(data []byte, set *ModuleSet) []byte {
	var b bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if _, ok := set.Infos[ModuleName(sc.Text())]; ok {
			b.WriteString(sc.Text())
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
