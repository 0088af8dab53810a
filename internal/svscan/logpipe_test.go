package svscan

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ichi-init/ichi/internal/testutil"
)

// sequenceService is a ./run that writes the numbers FROM..FROM+99 of burst
// k as soon as the file go.k exists, for k = 0, 1, ...; then it sleeps. The
// test decides when each burst is written.
const sequenceService = `k=0
while :; do
	while [ ! -e go.$k ]; do sleep 0.01; done
	i=$((k * 100)); end=$((i + 100))
	while [ $i -lt $end ]; do echo "n $i"; i=$((i + 1)); done
	k=$((k + 1))
done`

// loggedNumbers reads every file multilog wrote in logDir (rotated files in
// order, then current) and returns the numbers of the "n N" lines.
//
// current is opened first, so that a rotation while the directory is read
// loses nothing: current's content is read through the descriptor even when
// it has been renamed meanwhile, and the rotated file that is the same file
// is skipped. What is read is everything logged before current was opened.
func loggedNumbers(t testing.TB, logDir string) []int {
	t.Helper()
	current, err := os.Open(filepath.Join(logDir, "current"))
	if err != nil {
		return nil
	}
	defer current.Close()
	currentInfo, err := current.Stat()
	if err != nil {
		return nil
	}
	ents, err := os.ReadDir(logDir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "@") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var nums []int
	for _, name := range names {
		f, err := os.Open(filepath.Join(logDir, name))
		if err != nil {
			continue
		}
		if fi, err := f.Stat(); err == nil && !os.SameFile(fi, currentInfo) {
			nums = appendNumbers(nums, f)
		}
		f.Close()
	}
	return appendNumbers(nums, current)
}

// appendNumbers appends the numbers of r's "n N" lines to nums.
func appendNumbers(nums []int, r io.Reader) []int {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// "@4000... n 17" with t, "n 17" without.
		for i := 0; i+1 < len(fields); i++ {
			if fields[i] == "n" {
				if n, err := strconv.Atoi(fields[i+1]); err == nil {
					nums = append(nums, n)
				}
			}
		}
	}
	return nums
}

// checkSequence fails unless nums is 0, 1, ..., n-1.
func checkSequence(t testing.TB, nums []int, n int) {
	t.Helper()
	if len(nums) != n {
		t.Errorf("%d numbers logged, want %d", len(nums), n)
	}
	for i, v := range nums {
		if v != i {
			t.Errorf("number %d is %d: lost, repeated or out of order (%v...)", i, v, nums[i:min(i+5, len(nums))])
			return
		}
	}
}

// TestKilledLoggerLosesNothing kills an external logger with KILL several
// times; what its service wrote meanwhile waits in the pipe the scanner
// holds, and every number arrives exactly once, in order. Each kill hits a
// logger that has written everything it read (multilog would lose what it had
// read and not written: no pipe can save that), and each next burst is
// written while the logger is dead.
func TestKilledLoggerLosesNothing(t *testing.T) {
	loggers := []struct{ name, multilog string }{
		{"daemontools", testutil.Need(t, "multilog")},
	}
	if ichi := ichiMultilog(t); ichi != "" {
		loggers = append(loggers, struct{ name, multilog string }{"ichi", ichi})
	}
	for _, lg := range loggers {
		t.Run(lg.name, func(t *testing.T) {
			dir := t.TempDir()
			svc := filepath.Join(dir, "seq")
			writeService(t, svc, sequenceService)
			// s2000 forces rotations, so the check reads rotated files too.
			writeFile(t, filepath.Join(svc, "log/run"), fmt.Sprintf("#!/bin/sh\nexec %s t s2000 n100 ./main\n", lg.multilog), 0o755)
			r := startScanner(t, dir, Config{})
			main := filepath.Join(svc, "log/main")
			const bursts = 6
			lastPid := 0
			for k := range bursts {
				writeFile(t, filepath.Join(svc, fmt.Sprintf("go.%d", k)), "", 0o644)
				want := (k + 1) * 100
				waitFor(t, 10*time.Second, fmt.Sprintf("burst %d logged", k), func() bool {
					return len(loggedNumbers(t, main)) >= want
				})
				if k == bursts-1 {
					break
				}
				var pid int
				waitFor(t, 5*time.Second, "logger up", func() bool {
					st, ok := r.status("seq")
					if ok && st.Log != nil && st.Log.Up {
						pid = st.Log.Pid
					}
					return pid != 0
				})
				if pid == lastPid {
					t.Fatalf("logger pid %d did not change after its kill", pid)
				}
				lastPid = pid
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				// The next burst goes out while the logger is dead
				// (its restart is throttled to once a second).
				waitFor(t, 5*time.Second, "logger seen down", func() bool {
					st, _ := r.status("seq")
					return st.Log == nil || st.Log.Pid != pid
				})
			}
			checkSequence(t, loggedNumbers(t, main), bursts*100)
			if st, _ := r.status("seq"); st.Log == nil || st.Log.Restarts < bursts-1 {
				t.Errorf("logger restarts: %+v, want at least %d", st.Log, bursts-1)
			}
		})
	}
}

// ichiMultilog returns a path running ichi's multilog, or "" when the
// binary has no multilog tool yet.
func ichiMultilog(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		return ""
	}
	link := testutil.ToolLink(t, "multilog")
	out, _ := runTool(t, testutil.Ichi(t), "--list-tools")
	for _, name := range strings.Fields(out) {
		if name == "multilog" {
			return link
		}
	}
	return ""
}

// TestKilledServiceLosesNothingInProcess: the same sequence into an
// in-process logger (log/multilog), with the service killed between bursts:
// the pipe outlives the service.
func TestKilledServiceLosesNothingInProcess(t *testing.T) {
	dir := t.TempDir()
	svc := filepath.Join(dir, "seq")
	// The service restarts from burst 0 after each kill: it finds the
	// next burst from the files it has not yet consumed.
	writeService(t, svc, `k=0
while :; do
	while [ ! -e go.$k ] || [ -e done.$k ]; do
		[ -e done.$k ] && k=$((k + 1)) && continue
		sleep 0.01
	done
	i=$((k * 100)); end=$((i + 100))
	while [ $i -lt $end ]; do echo "n $i"; i=$((i + 1)); done
	: > done.$k
	k=$((k + 1))
done`)
	writeFile(t, filepath.Join(svc, "log/multilog"), "t s2000 n100 ./main\n", 0o644)
	r := startScanner(t, dir, Config{})
	main := filepath.Join(svc, "log/main")
	const bursts = 5
	for k := range bursts {
		writeFile(t, filepath.Join(svc, fmt.Sprintf("go.%d", k)), "", 0o644)
		waitFor(t, 10*time.Second, fmt.Sprintf("burst %d logged", k), func() bool {
			return len(loggedNumbers(t, main)) >= (k+1)*100
		})
		waitFor(t, 5*time.Second, fmt.Sprintf("done.%d", k), func() bool {
			return exists(filepath.Join(svc, fmt.Sprintf("done.%d", k)))
		})
		waitFor(t, 5*time.Second, "service up", func() bool { return r.up("seq") })
		st, _ := r.status("seq")
		syscall.Kill(st.Service.Pid, syscall.SIGKILL)
	}
	checkSequence(t, loggedNumbers(t, main), bursts*100)
}
