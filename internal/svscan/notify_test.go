package svscan

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServicesShareOneNotifySocket: every service of a scanner, and an
// external logger, gets DIR/.svscan/notify as NOTIFY_SOCKET; READY=1 marks
// only the service whose ./run sent it; each supervisor holds exactly one
// descriptor in its supervise/ directory; the socket is removed when the
// scanner ends.
func TestServicesShareOneNotifySocket(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	record := "echo \"$NOTIFY_SOCKET\" > socket; "
	writeService(t, filepath.Join(dir, "ready"), record+"ICHI_SVSCAN_HELPER=notify exec "+exe)
	writeService(t, filepath.Join(dir, "quiet"), record+"exec sleep 1000")
	writeService(t, filepath.Join(dir, "logged"), record+"exec sleep 1000")
	writeService(t, filepath.Join(dir, "logged", "log"), record+"exec cat > /dev/null")
	r := startScanner(t, dir, Config{})
	socket := filepath.Join(dir, ControlDir, "notify")
	for _, name := range []string{"ready", "quiet", "logged", "logged/log"} {
		path := filepath.Join(dir, name, "socket")
		waitFor(t, 5*time.Second, name+" started", func() bool {
			b, err := os.ReadFile(path)
			return err == nil && strings.HasSuffix(string(b), "\n")
		})
		if b, _ := os.ReadFile(path); string(b) != socket+"\n" {
			t.Errorf("%s: NOTIFY_SOCKET=%q, want %q", name, strings.TrimSpace(string(b)), socket)
		}
		if _, err := os.Lstat(filepath.Join(dir, name, "supervise", "notify")); !os.IsNotExist(err) {
			t.Errorf("%s: the supervisor bound its own socket (%v)", name, err)
		}
	}
	waitFor(t, 5*time.Second, "ready is ready", func() bool {
		st, _ := r.status("ready")
		return st.Service != nil && st.Service.Ready
	})
	// A stranger's READY=1 counts for no service.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("READY=1\n"))
	c.Close()
	time.Sleep(200 * time.Millisecond)
	for _, st := range r.sc.Statuses() {
		if st.Name != "ready" && st.Service != nil && st.Service.Ready {
			t.Errorf("%s is ready, but only the service \"ready\" said so", st.Name)
		}
		if st.Log != nil && st.Log.Ready {
			t.Errorf("%s's logger is ready, but it never said so", st.Name)
		}
	}
	// One descriptor per supervisor: its control FIFO (ok and lock are
	// the same file).
	per := map[string]int{}
	for target, n := range fdTargets(t) {
		if i := strings.Index(target, "/supervise/"); i >= 0 && strings.HasPrefix(target, dir+"/") {
			per[target[len(dir)+1:i]] += n
		}
	}
	for _, name := range []string{"ready", "quiet", "logged", "logged/log"} {
		if per[name] != 1 {
			t.Errorf("the supervisor of %s holds %d descriptors in supervise/, want 1", name, per[name])
		}
	}
	r.stop(t)
	if _, err := os.Lstat(socket); !os.IsNotExist(err) {
		t.Errorf("%s after the scanner ended: %v", socket, err)
	}
}
