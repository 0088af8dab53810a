package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/ichi-init/ichi/internal/svstatus"
	"github.com/ichi-init/ichi/internal/tai64n"
	"github.com/ichi-init/ichi/internal/vmagent"
)

// Result is what a command run in the guest gave.
type Result struct {
	Stdout, Stderr string
	// Status is the exit status; 128+N for a death by signal N.
	Status int
}

// pollEvery is how often the waits below ask the guest again.
const pollEvery = 200 * time.Millisecond

// WaitAgent waits until the guest's agent answers. Run calls it on first
// use; call it to bound the boot separately from the command.
func (vm *VM) WaitAgent(timeout time.Duration) error {
	vm.agentMu.Lock()
	up := vm.agentUp
	vm.agentMu.Unlock()
	if up {
		return nil
	}
	ctx, cancel := vm.context(timeout)
	defer cancel()
	for {
		// Each ping has its own short deadline: a ping sent before the
		// agent opened its port waits in QEMU's socket and is answered
		// late, which is harmless.
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := vm.agent.Ping(pctx)
		pcancel()
		if err == nil {
			vm.agentMu.Lock()
			vm.agentUp = true
			vm.agentMu.Unlock()
			return nil
		}
		if errors.Is(err, vmagent.ErrClosed) || ctx.Err() != nil {
			why := fmt.Sprintf("waiting for the guest agent: timed out after %v", timeout)
			if errors.Is(err, vmagent.ErrClosed) {
				why = fmt.Sprintf("waiting for the guest agent: %v", err)
			}
			return vm.failure(why, "")
		}
	}
}

// Run runs line with sh -c in the guest and returns its output and exit
// status. A command that has not ended after timeout is killed (its whole
// process group) and Run fails. A non-zero status is not an error: see
// Output.
func (vm *VM) Run(line string, timeout time.Duration) (Result, error) {
	if err := vm.WaitAgent(timeout); err != nil {
		return Result{}, err
	}
	ctx, cancel := vm.context(timeout)
	defer cancel()
	r, err := vm.agent.Run(ctx, line)
	res := Result{Stdout: string(r.Stdout), Stderr: string(r.Stderr), Status: r.Status}
	if err != nil {
		what := fmt.Sprintf("command %q: %v", line, err)
		if errors.Is(err, context.DeadlineExceeded) {
			what = fmt.Sprintf("command %q: timed out after %v", line, timeout)
		}
		return res, vm.failure(what, outputSoFar(res))
	}
	return res, nil
}

func outputSoFar(r Result) string {
	var b strings.Builder
	if r.Stdout != "" {
		fmt.Fprintf(&b, "--- its stdout ---\n%s\n", lastLines(r.Stdout, tailLines))
	}
	if r.Stderr != "" {
		fmt.Fprintf(&b, "--- its stderr ---\n%s\n", lastLines(r.Stderr, tailLines))
	}
	return b.String()
}

// Output runs line in the guest and returns its standard output; a
// non-zero status is an error that shows the command's stderr.
func (vm *VM) Output(line string, timeout time.Duration) (string, error) {
	r, err := vm.Run(line, timeout)
	if err != nil {
		return r.Stdout, err
	}
	if r.Status != 0 {
		return r.Stdout, fmt.Errorf("vmtest %s: command %q exited %d\n%s", vm.name, line, r.Status, outputSoFar(r))
	}
	return r.Stdout, nil
}

// ServiceDir is the directory of the service name in the guest.
func ServiceDir(name string) string {
	if strings.HasPrefix(name, "/") {
		return name
	}
	return path.Join("/service", name)
}

// ServiceStatus reads the supervise/status file of the service name in the
// guest.
func (vm *VM) ServiceStatus(name string) (svstatus.Status, error) {
	p := ServiceDir(name) + "/supervise/status"
	r, err := vm.Run("cat "+shellQuote(p), 10*time.Second)
	if err != nil {
		return svstatus.Status{}, err
	}
	if r.Status != 0 {
		return svstatus.Status{}, fmt.Errorf("vmtest %s: %s: %s", vm.name, p, strings.TrimSpace(r.Stderr))
	}
	st, err := svstatus.Decode([]byte(r.Stdout))
	if err != nil {
		return svstatus.Status{}, fmt.Errorf("vmtest %s: %s: %w", vm.name, p, err)
	}
	return st, nil
}

// WaitUp waits until the service name is up: its supervisor's status file
// says ./run is running.
func (vm *VM) WaitUp(name string, timeout time.Duration) error {
	return vm.waitService(name, timeout, "up", func() (bool, string) {
		st, err := vm.ServiceStatus(name)
		if err != nil {
			return false, err.Error()
		}
		return st.Up(), fmt.Sprintf("status: %s, pid %d, want %q", st.State, st.Pid, st.Want)
	})
}

// WaitReady waits until the service name is up and ready: its supervisor
// keeps the readiness file supervise/ready (ichi's addition; see the
// service's notification-fd) only while the current run is ready.
func (vm *VM) WaitReady(name string, timeout time.Duration) error {
	p := ServiceDir(name) + "/supervise/ready"
	return vm.waitService(name, timeout, "ready", func() (bool, string) {
		r, err := vm.Run("cat "+shellQuote(p), 10*time.Second)
		if err != nil {
			return false, err.Error()
		}
		if r.Status != 0 {
			st, err := vm.ServiceStatus(name)
			if err != nil {
				return false, "not ready; " + err.Error()
			}
			return false, fmt.Sprintf("not ready; status: %s, pid %d", st.State, st.Pid)
		}
		if _, err := tai64n.Parse([]byte(r.Stdout)); err != nil {
			return false, fmt.Sprintf("%s: %v", p, err)
		}
		return true, ""
	})
}

// WaitCommand waits until line, run in the guest again and again, exits 0.
func (vm *VM) WaitCommand(line string, timeout time.Duration) error {
	if err := vm.WaitAgent(timeout); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	var last Result
	for {
		r, err := vm.Run(line, max(time.Until(deadline), time.Second))
		if err != nil {
			return err
		}
		if r.Status == 0 {
			return nil
		}
		last = r
		if time.Now().Add(pollEvery).After(deadline) || vm.Exited() {
			return vm.failure(fmt.Sprintf("waiting for %q to succeed: timed out after %v (last status %d)", line, timeout, last.Status), outputSoFar(last))
		}
		time.Sleep(pollEvery)
	}
}

// waitService polls check until it says yes; on timeout the error has the
// console's tail, the last state seen and the service's log tail.
func (vm *VM) waitService(name string, timeout time.Duration, what string, check func() (bool, string)) error {
	if err := vm.WaitAgent(timeout); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		ok, state := check()
		if ok {
			return nil
		}
		if time.Now().Add(pollEvery).After(deadline) || vm.Exited() {
			extra := ""
			if state != "" {
				extra = "--- last state seen ---\n" + state + "\n"
			}
			extra += vm.logTail(name)
			return vm.failure(fmt.Sprintf("waiting for service %s to be %s: timed out after %v", name, what, timeout), extra)
		}
		time.Sleep(pollEvery)
	}
}

// logTail is the last lines of a service's log, for failure messages.
func (vm *VM) logTail(name string) string {
	if vm.Exited() {
		return ""
	}
	lines, err := vm.ServiceLog(name)
	if err != nil {
		return fmt.Sprintf("--- log of service %s: %v ---\n", name, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "--- log of service %s, last %d lines ---\n", name, tailLines)
	for _, l := range lines[max(0, len(lines)-tailLines):] {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// LogLine is one line of a multilog-style log.
type LogLine struct {
	// Time is the line's TAI64N label; zero when it had none.
	Time time.Time
	// Text is the line without the label and the space after it.
	Text string
}

// String returns the line as tai64nlocal would show it, in UTC.
func (l LogLine) String() string {
	if l.Time.IsZero() {
		return l.Text
	}
	return l.Time.UTC().Format("2006-01-02 15:04:05.000000000") + " " + l.Text
}

// ServiceLogDir is where a service's log is: the log directory its
// log/run names by the daemontools convention, "multilog t ./main".
func ServiceLogDir(name string) string {
	return ServiceDir(name) + "/log/main"
}

// ServiceLog returns the lines of the current log file of the service name
// (in ServiceLogDir).
func (vm *VM) ServiceLog(name string) ([]LogLine, error) {
	return vm.LogLines(ServiceLogDir(name) + "/current")
}

// LogLines reads a log file in the guest and decodes its TAI64N labels.
func (vm *VM) LogLines(file string) ([]LogLine, error) {
	r, err := vm.Run("cat "+shellQuote(file), 10*time.Second)
	if err != nil {
		return nil, err
	}
	if r.Status != 0 {
		return nil, fmt.Errorf("vmtest %s: %s: %s", vm.name, file, strings.TrimSpace(r.Stderr))
	}
	return ParseLog([]byte(r.Stdout)), nil
}

// ParseLog splits a multilog log file into lines and decodes each one's
// TAI64N label; a line without a label keeps its whole text.
func ParseLog(b []byte) []LogLine {
	var out []LogLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		t, err := tai64n.Parse(line)
		if err != nil {
			out = append(out, LogLine{Text: string(line)})
			continue
		}
		text := line[tai64n.LabelLen:]
		if len(text) > 0 && text[0] == ' ' {
			text = text[1:]
		}
		out = append(out, LogLine{Time: t, Text: string(text)})
	}
	return out
}

// Poweroff asks the guest to power off (Options.PoweroffCommand, or
// "poweroff") and waits for QEMU to exit; it returns the whole console.
// When the guest is not gone after timeout, QEMU is killed and Poweroff
// fails with the console's tail.
func (vm *VM) Poweroff(timeout time.Duration) (string, error) {
	line := vm.opts.PoweroffCommand
	if line == "" {
		line = "poweroff"
	}
	if err := vm.WaitAgent(timeout); err != nil {
		return vm.Console(), err
	}
	// The command may never answer: the machine goes down under it.
	if err := vm.agent.Spawn(line); err != nil {
		return vm.Console(), vm.failure(fmt.Sprintf("poweroff: send %q: %v", line, err), "")
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-vm.exited:
		return vm.Console(), nil
	case <-t.C:
		err := vm.failure(fmt.Sprintf("poweroff: QEMU still running %v after %q", timeout, line), "")
		vm.kill()
		return vm.Console(), err
	}
}

// Wait waits for QEMU to exit by itself (the guest powered off, or
// panicked) and returns the console.
func (vm *VM) Wait(timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-vm.exited:
		return vm.Console(), nil
	case <-t.C:
		return vm.Console(), vm.failure(fmt.Sprintf("waiting for QEMU to exit: timed out after %v", timeout), "")
	}
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
