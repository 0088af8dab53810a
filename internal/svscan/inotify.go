package svscan

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watchMask is what the scanner asks inotify for, on the scan directory and
// on service directories that are not yet complete: names appearing (created
// or moved in), names leaving, modes changing (chmod +x run) and files
// finished being written.
const watchMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
	unix.IN_DELETE | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE | unix.IN_ONLYDIR

// notes collects what the scanner must look at again: the names of service
// directories with news, or everything. Producers (the inotify reader, the
// goroutines that release services) mark; the scanner's loop takes. A kick on
// a channel of capacity 1 wakes the loop, so a burst of events costs a map
// entry each and one wake-up.
type notes struct {
	mu    sync.Mutex
	dirty map[string]struct{}
	all   bool
	kick  chan struct{}
}

func newNotes() *notes {
	return &notes{dirty: make(map[string]struct{}), kick: make(chan struct{}, 1)}
}

// mark asks for another look at the service called name.
func (n *notes) mark(name string) {
	n.mu.Lock()
	n.dirty[name] = struct{}{}
	n.mu.Unlock()
	n.wake()
}

// markAll asks for a full rescan.
func (n *notes) markAll() {
	n.mu.Lock()
	n.all = true
	n.mu.Unlock()
	n.wake()
}

func (n *notes) wake() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// take returns the marked names and whether everything must be rescanned,
// and clears both.
func (n *notes) take() (names []string, all bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for name := range n.dirty {
		names = append(names, name)
	}
	clear(n.dirty)
	all, n.all = n.all, false
	return names, all
}

// watcher is one inotify instance read through Go's poller. Each watch has
// a key: "" for the scan directory, else the name of the service whose
// directory (or log/ subdirectory) it watches. Events become marks in notes:
// an event in the scan directory marks the name it concerns, an event in a
// service directory marks that service, and lost events mark everything.
type watcher struct {
	fd    int      // the inotify descriptor, for add and remove
	f     *os.File // the same descriptor, read through the poller (never call f.Fd: it would make the descriptor blocking)
	notes *notes

	mu   sync.Mutex
	keys map[int32]watchTarget // wd -> what it watches
	wds  map[string]int32      // path -> wd

	done chan struct{}
}

type watchTarget struct {
	path string
	key  string // "" for the scan directory, else the service name
}

func newWatcher(n *notes) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	w := &watcher{
		fd:    fd,
		f:     os.NewFile(uintptr(fd), "inotify"),
		notes: n,
		keys:  make(map[int32]watchTarget),
		wds:   make(map[string]int32),
		done:  make(chan struct{}),
	}
	go w.read()
	return w, nil
}

// add watches path for key. Watching a path twice is harmless.
func (w *watcher) add(path, key string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.wds[path]; ok {
		return nil
	}
	wd, err := unix.InotifyAddWatch(w.fd, path, watchMask)
	if err != nil {
		return fmt.Errorf("inotify watch %s: %w", path, err)
	}
	// Two paths can name one directory (a symlink): the kernel returns
	// the existing wd, and the last key wins.
	if old, ok := w.keys[int32(wd)]; ok {
		delete(w.wds, old.path)
	}
	w.keys[int32(wd)] = watchTarget{path: path, key: key}
	w.wds[path] = int32(wd)
	return nil
}

// remove stops watching path; a path no longer watched (its directory was
// deleted) is not an error.
func (w *watcher) remove(path string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wd, ok := w.wds[path]
	if !ok {
		return
	}
	delete(w.wds, path)
	delete(w.keys, wd)
	unix.InotifyRmWatch(w.fd, uint32(wd)) // EINVAL when the kernel already dropped it
}

// watching reports how many watches are held (for tests).
func (w *watcher) watching() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.wds)
}

// close stops the reader and releases the inotify instance and its watches.
func (w *watcher) close() {
	w.f.Close() // wakes the reader with os.ErrClosed
	<-w.done
}

func (w *watcher) read() {
	defer close(w.done)
	// Big enough for many events at once; an event with the longest name
	// is sizeof(InotifyEvent)+NAME_MAX+1.
	buf := make([]byte, 16*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			// Nothing else is expected from a read of inotify: take
			// it as lost events, and leave the rescans to the timer.
			w.notes.markAll()
			return
		}
		w.parse(buf[:n])
	}
}

// parse turns the events in b into marks.
func (w *watcher) parse(b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			return
		}
		name := cString(b[unix.SizeofInotifyEvent:end])
		b = b[end:]
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			w.notes.markAll()
			continue
		}
		t, ok := w.keys[ev.Wd]
		if ev.Mask&unix.IN_IGNORED != 0 {
			// The kernel dropped the watch (directory deleted).
			if ok {
				delete(w.keys, ev.Wd)
				delete(w.wds, t.path)
				if t.key != "" {
					w.notes.mark(t.key)
				}
			}
			continue
		}
		if !ok {
			continue
		}
		switch {
		case t.key != "":
			w.notes.mark(t.key)
		case name != "":
			w.notes.mark(name)
		default:
			// An event on the scan directory itself: look at all.
			w.notes.markAll()
		}
	}
}

// cString returns b up to its first NUL: inotify pads names with NULs.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
