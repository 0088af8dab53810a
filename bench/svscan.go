package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ichi-init/ichi/internal/procstat"
	"golang.org/x/sys/unix"
)

// The svscan benchmark measures whole supervision trees (scanner, supervisors
// and loggers; the services themselves left out) for 100 and 1,000 services,
// each with a logger, under ichi's scanner (in-process supervisors and
// in-process multilog), daemontools' svscan (supervise + multilog), runit's
// runsvdir (runsv + svlogd) and s6-svscan (s6-supervise + s6-log): memory
// (PSS) and open descriptors; and how soon a service directory moved into the
// scan directory is running.
func init() {
	register(Benchmark{Name: "svscan", Issue: 5, Run: benchSvscan})
}

// svTree is one supervision suite under test.
type svTree struct {
	name    string
	scanner func(ichi, dir string) []string // the scanner's command line
	logger  func(svc string) error          // makes svc/log
	// procs is the number of processes in the tree, services included,
	// once n services run.
	procs func(n int) int
	// kick, when set, is run after a directory is moved in: the suite
	// has no automatic rescan.
	kick func(dir string) []string
}

// svServiceRun is the same tiny service everywhere: mark that it started,
// then become a sleeping busybox.
const svServiceRun = "#!/bin/sh\n: > started\nexec /bin/busybox sleep 1000000\n"

func svLogRun(svc, line string) error {
	if err := os.MkdirAll(filepath.Join(svc, "log", "main"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(svc, "log", "run"), []byte("#!/bin/sh\nexec "+line+"\n"), 0o755)
}

var svTrees = []svTree{
	{
		name:    "ichi",
		scanner: func(ichi, dir string) []string { return []string{ichi, "svscan", dir} },
		logger: func(svc string) error {
			if err := os.MkdirAll(filepath.Join(svc, "log"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(svc, "log", "multilog"), []byte("t ./main\n"), 0o644)
		},
		procs: func(n int) int { return 1 + n },
	},
	{
		name:    "daemontools",
		scanner: func(_, dir string) []string { return []string{"svscan", dir} },
		logger:  func(svc string) error { return svLogRun(svc, "multilog t ./main") },
		procs:   func(n int) int { return 1 + 4*n }, // supervise x2, multilog, service
	},
	{
		name:    "runit",
		scanner: func(_, dir string) []string { return []string{"runsvdir", dir} },
		logger:  func(svc string) error { return svLogRun(svc, "svlogd -tt ./main") },
		procs:   func(n int) int { return 1 + 3*n }, // runsv, svlogd, service
	},
	{
		name: "s6",
		// -c: room for every service and its logger (s6 counts both;
		// the default, 1000, would stop at 500 logged services).
		scanner: func(_, dir string) []string { return []string{"s6-svscan", "-c", "4096", dir} },
		logger:  func(svc string) error { return svLogRun(svc, "s6-log t ./main") },
		procs:   func(n int) int { return 1 + 4*n }, // s6-supervise x2, s6-log, service
		kick:    func(dir string) []string { return []string{"s6-svscanctl", "-a", dir} },
	},
}

func benchSvscan(ctx *Context) ([]Result, error) {
	// Orphans of the trees come back to this process, so that a tree can
	// be found and killed whole.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", err)
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}
	var results []Result
	pss := map[string]map[int]float64{}
	fdCount := map[string]map[int]int{}
	for _, n := range []int{100, 1000} {
		for _, tr := range svTrees {
			kib, fds, pickup, err := svMeasure(ctx, tr, n)
			if err != nil {
				return nil, fmt.Errorf("%s, %d services: %w", tr.name, n, err)
			}
			if pss[tr.name] == nil {
				pss[tr.name] = map[int]float64{}
			}
			pss[tr.name][n] = kib
			if fdCount[tr.name] == nil {
				fdCount[tr.name] = map[int]int{}
			}
			fdCount[tr.name][n] = fds
			results = append(results, Result{
				Metric: fmt.Sprintf("tree PSS, %d services", n), Program: tr.name,
				Value: kib / 1024, Unit: "MiB", Better: Lower,
				Note: "scanner, supervisors and loggers (services left out)",
			})
			if pickup != nil {
				note := fmt.Sprintf("mv of a complete directory until its run started; median of %d, worst %.1f ms", len(pickup), svMs(slices.Max(pickup)))
				if tr.kick != nil {
					note += "; " + strings.Join(tr.kick("DIR"), " ") + " right after the mv (no automatic rescan)"
				}
				results = append(results, Result{
					Metric: "new service pickup", Program: tr.name,
					Value: svMs(svMedian(pickup)), Unit: "ms", Better: Lower, Note: note,
				})
			}
		}
	}
	for _, tr := range svTrees {
		results = append(results, Result{
			Metric: "per-service cost", Program: tr.name,
			Value: (pss[tr.name][1000] - pss[tr.name][100]) / 900, Unit: "KiB", Better: Lower,
			Note: "(PSS at 1,000 - PSS at 100) / 900",
		})
		results = append(results, Result{
			Metric: "descriptors per service", Program: tr.name,
			Value: float64(fdCount[tr.name][1000]-fdCount[tr.name][100]) / 900, Unit: "fds", Better: Lower,
			Note: "open descriptors of scanner, supervisors and loggers (services left out), (at 1,000 - at 100) / 900; ichi's are in one process, under one RLIMIT_NOFILE",
		})
	}
	return results, nil
}

// svMeasure starts tr on n services, measures the tree's PSS and open
// descriptors once every process is there, and (for n = 100) the pickup of
// new directories.
func svMeasure(ctx *Context, tr svTree, n int) (kib float64, fds int, pickup []time.Duration, err error) {
	dir := filepath.Join(ctx.Work, fmt.Sprintf("%s-%d", tr.name, n))
	staging := filepath.Join(ctx.Work, fmt.Sprintf("%s-%d-staging", tr.name, n))
	for i := range n {
		if err := svMakeService(filepath.Join(dir, fmt.Sprintf("s%04d", i)), tr); err != nil {
			return 0, 0, nil, err
		}
	}
	argv := tr.scanner(ctx.Ichi, dir)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 0, 0, nil, err
	}
	root := cmd.Process.Pid
	defer svKillTree(cmd)
	want := tr.procs(n)
	if err := svWaitTree(root, want, dir, n, 3*time.Minute); err != nil {
		return 0, 0, nil, err
	}
	// Let the loggers and supervisors settle (first writes, status files).
	time.Sleep(2 * time.Second)
	kib, err = svTreePSS(root)
	if err != nil {
		return 0, 0, nil, err
	}
	fds = svTreeFDs(root)
	fmt.Fprintf(ctx.Log, "svscan bench: %s, %d services: %d processes, %.0f KiB PSS and %d descriptors without the services\n", tr.name, n, len(svTree1(root)), kib, fds)
	if n != 100 {
		return kib, fds, nil, nil
	}
	for i := range 5 {
		name := fmt.Sprintf("new%d", i)
		if err := svMakeService(filepath.Join(staging, name), tr); err != nil {
			return 0, 0, nil, err
		}
		marker := filepath.Join(dir, name, "started")
		start := time.Now()
		if err := os.Rename(filepath.Join(staging, name), filepath.Join(dir, name)); err != nil {
			return 0, 0, nil, err
		}
		if tr.kick != nil {
			k := tr.kick(dir)
			if out, err := exec.Command(k[0], k[1:]...).CombinedOutput(); err != nil {
				return 0, 0, nil, fmt.Errorf("%s: %v: %s", k, err, out)
			}
		}
		for {
			if _, err := os.Stat(marker); err == nil {
				break
			}
			if time.Since(start) > 20*time.Second {
				return 0, 0, nil, fmt.Errorf("%s not started 20 s after the mv", name)
			}
			time.Sleep(time.Millisecond)
		}
		pickup = append(pickup, time.Since(start))
	}
	return kib, fds, pickup, nil
}

func svMakeService(svc string, tr svTree) error {
	if err := os.MkdirAll(svc, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(svc, "run"), []byte(svServiceRun), 0o755); err != nil {
		return err
	}
	return tr.logger(svc)
}

// svTree1 returns root and all its descendants.
func svTree1(root int) []int {
	children := map[int][]int{}
	ps, _ := procstat.List("/proc")
	for _, p := range ps {
		if p.State != 'Z' {
			children[p.PPid] = append(children[p.PPid], p.Pid)
		}
	}
	tree := []int{root}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree
}

// svWaitTree waits until the tree has want processes and every service has
// written its marker.
func svWaitTree(root, want int, dir string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got := len(svTree1(root))
		started := 0
		if got >= want {
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if _, err := os.Stat(filepath.Join(dir, e.Name(), "started")); err == nil {
					started++
				}
			}
			if started >= n {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tree of %d has %d processes (want %d), %d services started (want %d) after %v", root, got, want, started, n, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// svTreePSS sums the PSS of the tree's processes, the services (busybox
// sleep) left out.
func svTreePSS(root int) (float64, error) {
	total := 0.0
	for _, pid := range svTree1(root) {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, "busybox") {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue // exited meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
				v, err := strconv.ParseFloat(f[1], 64)
				if err != nil {
					return 0, fmt.Errorf("pid %d: smaps_rollup: %q", pid, line)
				}
				total += v
			}
		}
	}
	return total, nil
}

// svTreeFDs counts the open descriptors of the processes under root, the
// services (busybox) left out.
func svTreeFDs(root int) int {
	total := 0
	for _, pid := range svTree1(root) {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, "busybox") {
			continue
		}
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue // exited meanwhile
		}
		total += len(ents)
	}
	return total
}

// svKillTree kills the scanner first (so that nothing restarts), then every
// process left in its tree, and reaps them all (this process is their
// subreaper).
func svKillTree(cmd *exec.Cmd) {
	root := cmd.Process.Pid
	tree := svTree1(root)
	syscall.Kill(root, syscall.SIGKILL)
	cmd.Wait()
	for range 50 {
		for _, pid := range tree[1:] {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
		tree = tree[:1]
		// Orphans are this process's children now.
		tree = append(tree, svTree1(os.Getpid())[1:]...)
		if len(tree) == 1 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func svMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func svMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
