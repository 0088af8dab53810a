package chainload_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ichi-init/ichi/internal/testutil"
)

// run is one invocation of a tool.
type run struct {
	args  []string
	env   []string // nil: basicEnv
	dir   string   // working directory; "" for the test's scratch directory
	shell string   // if set, the tool runs under sh -c SHELL, with "$@" the tool and args
}

// outcome is what one invocation did.
type outcome struct {
	stdout, stderr string
	status         string
}

func (o outcome) String() string {
	return fmt.Sprintf("%s\nstdout: %q\nstderr: %q", o.status, o.stdout, o.stderr)
}

var basicEnv = []string{"PATH=/usr/bin:/bin", "HOME=/", "A=1", "UID=99", "B=2", "A=3"}

func (r run) do(t *testing.T, prog, scratch string) outcome {
	t.Helper()
	var cmd *exec.Cmd
	if r.shell != "" {
		cmd = exec.Command("/bin/sh", append([]string{"-c", r.shell, "sh", prog}, r.args...)...)
	} else {
		cmd = exec.Command(prog, r.args...)
	}
	cmd.Env = r.env
	if cmd.Env == nil {
		cmd.Env = basicEnv
	}
	cmd.Dir = filepath.Join(scratch, r.dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	o := outcome{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
		o.status = "exit 0"
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			o.status = "signal " + ws.Signal().String()
		} else {
			o.status = fmt.Sprintf("exit %d", ws.ExitStatus())
		}
	default:
		t.Fatalf("run %s %q: %v", prog, r.args, err)
	}
	return o
}

// scratch builds the directory the tools run in: env directories, a file
// where a directory is expected, PATH directories with a program that
// cannot be run and one that can.
func scratch(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"env/A":            "v1  \t \nsecond line\n",
		"env/B":            "",
		"env/C":            "\n",
		"env/D":            "a\x00b\x00\n",
		"env/E=F":          "x=y",
		"env/.hidden":      "not read",
		"env/L":            "  leading",
		"env/T":            "tab\t",
		"env/N":            "no newline",
		"env/PATH":         "/nonexistent",
		"env/HOME":         "",
		"dangling/1":       "first",
		"dangling/2":       "x\x00y",
		"withsubdir/A":     "1",
		"notadir":          "",
		"badpath/prog":     "#!/bin/sh\necho bad\n",
		"goodpath/prog":    "#!/bin/sh\necho good \"$@\"\n",
		"cwdpath/prog":     "#!/bin/sh\necho cwd\n",
		"dotfirst/.A":      "hidden",
		"dotfirst/Z":       "z",
		"dotfirst/..weird": "also hidden",
		"unreadable/A":     "x",
		"closed/A":         "x",
		"noread/A":         "x",
		"nosearch/A":       "x",
		"nocwd/.keep":      "",
		"locks/.keep":      "",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"goodpath/prog", "cwdpath/prog"} {
		if err := os.Chmod(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []struct{ name, target string }{
		{"dangling/3", "/nonexistent"}, {"dangling/4", "/nonexistent"},
		{"env/S", "/nonexistent"},
	} {
		if err := os.Symlink(l.target, filepath.Join(dir, l.name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "withsubdir", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// openUp lets every account search the directories above path, up to the
// system's temporary directory, where the tests' directories are made with
// mode 0700.
func openUp(t *testing.T, path string) {
	t.Helper()
	top := filepath.Clean(os.TempDir())
	for d := filepath.Dir(path); strings.HasPrefix(d, top+"/"); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o055); err != nil {
			t.Fatal(err)
		}
	}
}

// compare runs each case through Debian's tool and ichi's and wants the
// same output, messages and status.
func compare(t *testing.T, tool string, cases []run, normalize func(string) string) {
	t.Helper()
	ref := testutil.Need(t, tool)
	ours := testutil.ToolLink(t, tool)
	dir := scratch(t)
	// Some cases run the tools as nobody, who must reach them.
	for _, p := range []string{ours, testutil.Ichi(t), dir} {
		openUp(t, p)
	}
	for _, c := range cases {
		want := c.do(t, ref, dir)
		got := c.do(t, ours, dir)
		if normalize != nil {
			want.stdout, got.stdout = normalize(want.stdout), normalize(got.stdout)
		}
		if want != got {
			env := fmt.Sprintf("%q", c.env)
			if len(c.env) > 10 {
				env = fmt.Sprintf("%q and %d more", c.env[:10], len(c.env)-10)
			}
			t.Errorf("%s %q (env %s):\ndaemontools: %v\nichi:        %v", tool, c.args, env, want, got)
		}
	}
}

// largeEnv returns environment variables of about size bytes in all.
func largeEnv(size int) []string {
	value := strings.Repeat("x", 90)
	env := make([]string, 0, size/100)
	for i := range size / 100 {
		env = append(env, fmt.Sprintf("V%07d=%s", i, value))
	}
	return env
}

// sigIgnored runs a tool with SIGHUP and SIGINT ignored, which the program
// it runs must inherit. Only these two: the Go runtime replaces any other
// inherited SIG_IGN (SIGPIPE, SIGTERM, ...) with its own handler at start-up
// and cannot tell afterwards that the signal was ignored, so ichi's
// chain-loaders hand those on at their default action. A known difference.
const sigIgnored = `trap "" INT HUP; exec "$@"`

// Cases every tool shares: the lookup of the program to run.
func pathCases(prefix ...string) []run {
	with := func(args ...string) []string { return append(append([]string{}, prefix...), args...) }
	return []run{
		{args: with("nonexistent-program")},
		{args: with("/nonexistent/program")},
		{args: with("notadir/x")},
		{args: with("prog", "arg"), env: []string{"PATH=badpath:goodpath"}},
		{args: with("prog"), env: []string{"PATH=badpath"}},
		{args: with("prog"), env: []string{"PATH=:goodpath"}, dir: "cwdpath"},
		{args: with("prog"), env: []string{"PATH="}},
		{args: with("sh", "-c", "echo default path")},
		{args: with("")},
		{args: with("env")},
	}
}

func TestPgrphackMatchesDaemontools(t *testing.T) {
	cases := []run{
		{args: nil},
		{args: []string{"-Z"}},
		// The child leads a new session and process group.
		{args: []string{"sh", "-c", `set -- $(cat /proc/$$/stat); echo pgrp=$([ "$5" = "$1" ] && echo own) session=$([ "$6" = "$1" ] && echo own)`}},
		// setsid fails for a process group leader, and is ignored.
		{args: []string{"sh", "-c", `echo ok`}, shell: `exec setsid "$@"`},
	}
	compare(t, "pgrphack", append(cases, pathCases()...), nil)
}

func TestSetuidgidMatchesDaemontools(t *testing.T) {
	cases := []run{
		{args: nil},
		{args: []string{"daemon"}},
		{args: []string{"no-such-account", "true"}},
		{args: []string{"", "true"}},
		{args: []string{"daemon", "/nonexistent/program"}},
	}
	if os.Geteuid() == 0 {
		cases = append(cases,
			run{args: []string{"daemon", "env"}},
			run{args: []string{"daemon", "grep", "-E", "^(Uid|Gid|Groups|SigBlk|SigIgn|NoNewPrivs|Cap[A-Za-z]+):", "/proc/self/status"}},
			run{args: []string{"nobody", "id"}},
			run{args: []string{"root", "id"}},
			// Not allowed to change account: the messages for setgid.
			run{args: []string{"daemon", "true"}, shell: `exec /usr/bin/setuidgid nobody "$@"`},
			// Ignored signals stay ignored in the child (see sigIgnored).
			run{args: []string{"daemon", "grep", "-E", "^Sig(Pnd|Blk|Ign|Cgt)", "/proc/self/status"}, shell: sigIgnored},
		)
		cases = append(cases, pathCases("daemon")...)
	}
	compare(t, "setuidgid", cases, nil)
}

func TestEnvuidgidMatchesDaemontools(t *testing.T) {
	cases := []run{
		{args: nil},
		{args: []string{"daemon"}},
		{args: []string{"no-such-account", "true"}},
		{args: []string{"daemon", "env"}},
		{args: []string{"nobody", "env"}, env: []string{"GID=1", "X=2", "UID=3", "Y=4"}},
		{args: []string{"root", "id", "-u"}},
	}
	compare(t, "envuidgid", append(cases, pathCases("daemon")...), nil)
}

func TestEnvdirMatchesDaemontools(t *testing.T) {
	cases := []run{
		{args: nil},
		{args: []string{"env"}},
		{args: []string{"-Z", "true"}},
		{args: []string{"/nonexistent", "true"}},
		{args: []string{"notadir", "true"}},
		{args: []string{"withsubdir", "true"}},
		{args: []string{"env", "env"}},
		{args: []string{"env", "env"}, env: []string{"B=gone", "Z=1", "A=old", "HOME=/", "A=old2", "PATH=/usr/bin:/bin"}},
		{args: []string{"dangling", "env"}, env: []string{"Z=1", "3=old"}},
		{args: []string{"dotfirst", "env"}},
		// PATH set by the directory does not change where env is found.
		{args: []string{"env", "sh", "-c", "echo $PATH"}},
		{args: []string{"../env", "env"}, dir: "goodpath"},
		{args: []string{"env", "./goodpath/prog"}},
		// Ignored signals stay ignored in the child (see sigIgnored).
		{args: []string{"env", "grep", "-E", "^Sig(Pnd|Blk|Ign|Cgt)", "/proc/self/status"}, shell: sigIgnored},
	}
	if os.Geteuid() == 0 {
		cases = append(cases,
			// Run as nobody: an unreadable file, an unreadable directory,
			// an unreadable working directory.
			run{args: []string{"unreadable", "true"}, shell: `chmod 0 unreadable/A; exec /usr/bin/setuidgid nobody "$@"`},
			run{args: []string{"closed", "true"}, shell: `chmod 0 closed; exec /usr/bin/setuidgid nobody "$@"`},
			// Searchable but not readable, readable but not searchable.
			run{args: []string{"noread", "true"}, shell: `chmod 0311 noread; exec /usr/bin/setuidgid nobody "$@"`},
			run{args: []string{"nosearch", "true"}, shell: `chmod 0644 nosearch; exec /usr/bin/setuidgid nobody "$@"`},
			run{args: []string{"../env", "true"}, shell: `chmod 0311 .; exec /usr/bin/setuidgid nobody "$@"`, dir: "nocwd"},
		)
	}
	compare(t, "envdir", append(cases, pathCases("env")...), nil)
}

func TestSoftlimitMatchesDaemontools(t *testing.T) {
	limits := []string{"cat", "/proc/self/limits"}
	cases := []run{
		{args: nil},
		{args: []string{"-Z"}},
		{args: []string{"-m"}},
		{args: []string{"-m", "100000000"}},
		{args: []string{"-m", "x", "true"}},
		{args: []string{"-m", "12x", "true"}},
		{args: []string{"-m", "=x", "true"}},
		{args: []string{"-m", "-1", "true"}},
		{args: []string{"-"}},
		{args: []string{"--", "-m", "1"}},
		{args: []string{"-t5Z", "true"}},
	}
	for _, opt := range []string{"a", "c", "d", "f", "l", "m", "o", "p", "r", "s", "t"} {
		for _, v := range []string{"300000000", "=", "99999999999999999999999", "18446744073709551615"} {
			cases = append(cases, run{args: append([]string{"-" + opt, v}, limits...)})
		}
	}
	cases = append(cases,
		run{args: append([]string{"-o", "100", "-t", "7", "-c", "0", "-m", "500000000"}, limits...)},
		run{args: append([]string{"-o50"}, limits...)},
		run{args: append([]string{"-o", "50", "-o", "="}, limits...)},
		run{args: append([]string{"-c", ""}, limits...)},
		// Limits too small for the child to start.
		run{args: []string{"-a", "0", "true"}},
		run{args: []string{"-s", "0", "true"}},
		run{args: []string{"-d", "0", "sh", "-c", "echo ok"}},
		// Ignored signals stay ignored in the child (see sigIgnored).
		run{args: []string{"-t", "100", "grep", "-E", "^Sig(Pnd|Blk|Ign|Cgt)", "/proc/self/status"}, shell: sigIgnored},
		// The child gets the soft limit on open files softlimit was
		// started with, which the Go runtime raises for itself.
		run{args: append([]string{"-m", "3000000"}, limits...), shell: `ulimit -Sn 100; exec "$@"`},
		run{args: append([]string{"-o", "=", "-c", "0"}, limits...), shell: `ulimit -Sn 100; exec "$@"`},
	)
	// A qmail run script's limits, with a large environment to copy for
	// execve. The runtime has reserved more address space than these
	// limits allow, so ichi must not allocate once they are set: when it
	// did, it died in about one start of five. Each case runs several
	// times for that reason.
	big := append(slices.Clone(basicEnv), largeEnv(400<<10)...)
	for range 8 {
		for _, opt := range []string{"-m", "-d", "-a"} {
			cases = append(cases, run{args: []string{opt, "3000000", "echo", "ok"}, env: big})
		}
		cases = append(cases, run{args: []string{"-a", "300000000", "echo", "ok"}, env: big})
	}
	compare(t, "softlimit", append(cases, pathCases("-t", "100")...), nil)
}

func TestSetlockMatchesDaemontools(t *testing.T) {
	holding := `cd ../locks && exec "$@"`
	cases := []run{
		{args: nil},
		{args: []string{"-Z"}},
		{args: []string{"f"}},
		{args: []string{"-x", "f"}},
		{args: []string{"/nonexistent/dir/f", "true"}},
		{args: []string{"-x", "/nonexistent/dir/f", "true"}},
		{args: []string{"-X", "-x", "-X", "/nonexistent/dir/f", "true"}},
		{args: []string{"-nN", "notadir/f", "true"}},
		// The lock file is created with mode 0600 and the child holds the
		// lock: a second setlock -n, run by the child, fails on it; with
		// -x it exits 0 quietly.
		{args: []string{"lock1", "sh", "-c", `stat -c %a lock1; /usr/bin/setlock -n lock1 echo not held; echo $?; /usr/bin/setlock -nx lock1 echo not held; echo $?`}, shell: holding},
		// One more descriptor open in the child: the lock file's.
		{args: []string{"lock2", "sh", "-c", `cd /proc/self/fd && for f in *; do echo "$f $(readlink $f)"; done | grep lock2`}, shell: holding},
		// Blocking: waits for the holder to finish.
		{args: []string{"lock3", "echo", "got it"}, shell: `cd ../locks && /usr/bin/setlock lock3 sleep 0.3 & sleep 0.1; cd ../locks && "$@"; wait`},
		{args: []string{"-n", "lock4", "echo", "got it"}, shell: `cd ../locks && /usr/bin/setlock lock4 sleep 0.5 & sleep 0.2; cd ../locks && "$@"; wait`},
		{args: []string{"-nx", "lock5", "echo", "got it"}, shell: `cd ../locks && /usr/bin/setlock lock5 sleep 0.5 & sleep 0.2; cd ../locks && "$@"; wait`},
		{args: []string{"-x", "lock6", "nonexistent-program"}, shell: holding},
	}
	for i := range cases {
		if cases[i].shell != "" {
			cases[i].dir = "env"
		}
	}
	// The lock's descriptor number is compared too: 3 in both, since the
	// Go runtime holds no descriptor of its own when setlock opens the
	// file (see cmd/init's go:debug lines).
	compare(t, "setlock", append(cases, pathCases("lockp")...), nil)
}
