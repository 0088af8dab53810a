package kmod

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ModulesLoadDirs are the directories of modules-load.d(5), most important
// first: a file name in an earlier one hides the same name in later ones.
var ModulesLoadDirs = []string{"/etc/modules-load.d", "/run/modules-load.d", "/usr/lib/modules-load.d"}

// ParseModulesLoad reads one modules-load.d file: a module name per line,
// '#' and ';' starting comment lines.
func ParseModulesLoad(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.ContainsAny(line, " \t/") {
			return out, fmt.Errorf("line %d: want one module name, got %q", n, line)
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

// ReadModulesLoad reads the *.conf files of dirs, in the order of their
// names, a name in an earlier directory hiding it in later ones. Missing
// directories are skipped; a bad file is reported and the others read.
func ReadModulesLoad(dirs []string) ([]string, error) {
	files := map[string]string{}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if _, hidden := files[e.Name()]; !hidden && strings.HasSuffix(e.Name(), ".conf") && !e.IsDir() {
				files[e.Name()] = filepath.Join(d, e.Name())
			}
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var mods []string
	var errs []string
	for _, n := range names {
		f, err := os.Open(files[n])
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		m, err := ParseModulesLoad(f)
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", files[n], err))
		}
		mods = append(mods, m...)
	}
	if len(errs) > 0 {
		return mods, fmt.Errorf("kmod: %s", strings.Join(errs, "; "))
	}
	return mods, nil
}
