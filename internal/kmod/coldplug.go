package kmod

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Coldplug loads the modules the devices present ask for: it reads every
// file named modalias under sysDevices (/sys/devices), looks each alias up
// and loads what matches. Loading a driver can make new devices appear (a
// virtio PCI function becomes a virtio device that wants virtio_net), so it
// walks again until a walk loads nothing new, at most rounds times. It
// returns the modules it loaded or found loaded, and the failures joined; one failure does
// not stop the others.
func (l *Loader) Coldplug(sysDevices string, rounds int) ([]string, error) {
	var loaded []string
	var errs []error
	tried := map[string]bool{}
	for r := 0; r < rounds; r++ {
		aliases, err := Modaliases(sysDevices)
		if err != nil {
			errs = append(errs, err)
		}
		progress := false
		for _, a := range aliases {
			for _, m := range l.Index.Lookup(a) {
				if tried[m] {
					continue
				}
				tried[m] = true
				if err := l.Load(m); err != nil {
					errs = append(errs, err)
					continue
				}
				if !l.Index.Builtin[m] {
					loaded = append(loaded, m)
					progress = true
				}
			}
		}
		if !progress {
			break
		}
	}
	return loaded, errors.Join(errs...)
}

// Modaliases returns the distinct contents of the modalias files under
// root, in walk order. Unreadable files are skipped (some devices refuse).
func Modaliases(root string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil
		}
		if d.Name() != "modalias" || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		if a := strings.TrimSpace(string(b)); a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
		return nil
	})
	return out, err
}
