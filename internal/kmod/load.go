package kmod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ichi-init/ichi/internal/rawcall"
)

// moduleInitCompressedFile is finit_module's flag for a compressed file
// that the kernel decompresses itself (Linux 6.4 and later).
const moduleInitCompressedFile = 4

// Loader loads modules from an Index, each once.
type Loader struct {
	Index *Index
	// Finit loads the module in the open file f with the parameters and
	// flags, as finit_module(2). Nil means the system call; tests set
	// it, as they must not load modules into the host.
	Finit func(f *os.File, params string, flags int) error
	// SysModule is the directory whose entries name the loaded modules
	// (default /sys/module); a module there is not loaded again.
	SysModule string
	// CPU is the processor's modalias (kmod.DeviceModalias of
	// /sys/bus/cpu/devices/cpu0). When set, a soft dependency that is
	// bound to processor features (a module with cpu: aliases, such as
	// crc32c_intel) is loaded only when one of them matches: on another
	// processor the kernel would load it and refuse it, in 40 ms of a TCG
	// guest's boot. Empty: every one is tried, as modprobe does.
	CPU string
	// Trace, when not nil, is told of every module file the loader asks
	// the kernel to load: its name, how long the kernel took, and the
	// error (nil, or EEXIST for one loaded meanwhile). The boot's debug
	// log uses it. Loads made side by side call it side by side.
	Trace func(name string, took time.Duration, err error)

	mu      sync.Mutex
	loaded  map[string]bool
	loading map[string]*loading // modules being loaded now, by name
	soft    map[string]bool     // soft dependencies taken up, each once
}

// loading is one module's load in progress; others that need the module
// wait for it to end and share its result.
type loading struct {
	done chan struct{}
	err  error
}

// Loaded returns the names of the modules this loader loaded or found
// loaded, for the boot log.
func (l *Loader) Loaded() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for n := range l.loaded {
		out = append(out, n)
	}
	return out
}

// Load loads the module or alias name and what it depends on, each module
// after its soft dependencies' pre: modules and before their post: ones (as
// modprobe does; a soft dependency that fails to load is skipped). A module
// already in the kernel (built in, loaded before, EEXIST) is success.
//
// Load may be called from several goroutines at once: modules that do not
// depend on each other then load side by side (the kernel runs each
// finit_module on the caller's processor), and a module two of them need
// is asked of the kernel once, the second caller waiting for the first.
func (l *Loader) Load(name string) error {
	files, err := l.Index.Resolve(name)
	if err != nil {
		return err
	}
	for _, f := range files {
		sd := l.Index.Softdeps[Name(f)]
		l.loadSoft(sd.Pre)
		if err := l.loadFile(f); err != nil {
			return fmt.Errorf("kmod: %s: %w", name, err)
		}
		l.loadSoft(sd.Post)
	}
	return nil
}

// loadSoft loads every module that each name (a module or an alias such
// as crypto-crc32c) answers to, as modprobe does for a soft dependency:
// several may (crc32c_intel and crc32c_generic), and one that fails (the
// first on a processor without SSE4.2) is no error.
func (l *Loader) loadSoft(names []string) {
	for _, n := range names {
		mods := l.Index.Lookup(n)
		if _, ok := l.Index.Deps[Normalize(n)]; ok || len(mods) == 0 {
			mods = append([]string{Normalize(n)}, mods...)
		}
		for _, m := range mods {
			if l.CPU != "" && !l.Index.RunsOn(m, l.CPU) {
				continue
			}
			l.mu.Lock()
			busy := l.soft[m]
			if l.soft == nil {
				l.soft = map[string]bool{}
			}
			l.soft[m] = true
			l.mu.Unlock()
			if !busy { // a soft dependency cycle ends here
				l.Load(m)
			}
		}
	}
}

// LoadFilesystem loads the module of the file system type fstype, as the
// kernel would ask modprobe for "fs-TYPE" when it is first mounted, which
// in a small image costs the start of a helper process or two (ext4's
// crc32c is a second one). A type no module provides (built in, or
// unknown) is no error: the mount says what is wrong.
func (l *Loader) LoadFilesystem(fstype string) error {
	err := l.Load("fs-" + fstype)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// LoadAll loads each name and returns every failure joined; one module
// that fails does not stop the others.
func (l *Loader) LoadAll(names []string) error {
	var errs []error
	for _, n := range names {
		if err := l.Load(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (l *Loader) loadFile(rel string) error {
	name := Name(rel)
	l.mu.Lock()
	if l.loaded[name] {
		l.mu.Unlock()
		return nil
	}
	if w := l.loading[name]; w != nil {
		l.mu.Unlock()
		<-w.done
		return w.err
	}
	if l.loading == nil {
		l.loading = map[string]*loading{}
	}
	w := &loading{done: make(chan struct{})}
	l.loading[name] = w
	l.mu.Unlock()

	w.err = l.finit(rel, name)
	l.mu.Lock()
	delete(l.loading, name)
	if w.err == nil {
		if l.loaded == nil {
			l.loaded = map[string]bool{}
		}
		l.loaded[name] = true
	}
	l.mu.Unlock()
	close(w.done)
	return w.err
}

// finit asks the kernel to load the module file rel (called name), unless
// /sys/module shows it there already. EEXIST, one loaded meanwhile, is
// success.
func (l *Loader) finit(rel, name string) error {
	sys := l.SysModule
	if sys == "" {
		sys = "/sys/module"
	}
	if _, err := os.Stat(filepath.Join(sys, name, "initstate")); err == nil {
		return nil
	}
	path := filepath.Join(l.Index.Dir, rel)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if compressed(rel) {
		flags = moduleInitCompressedFile
	}
	finit := l.Finit
	if finit == nil {
		finit = func(f *os.File, params string, flags int) error {
			return rawcall.FinitModule(int(f.Fd()), params, flags)
		}
	}
	start := time.Now()
	err = finit(f, "", flags)
	if l.Trace != nil {
		l.Trace(name, time.Since(start), err)
	}
	switch {
	case err == nil, errors.Is(err, unix.EEXIST):
		return nil
	case flags != 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)):
		return fmt.Errorf("finit_module %s: %w (this kernel cannot decompress modules; ship them uncompressed)", path, err)
	}
	return fmt.Errorf("finit_module %s: %w", path, err)
}

func compressed(path string) bool {
	for _, s := range []string{".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
}
