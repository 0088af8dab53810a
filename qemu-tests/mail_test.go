package qemutests

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ichi-init/ichi/initramfs"
	"github.com/ichi-init/ichi/internal/testutil"
	"github.com/ichi-init/ichi/vmtest"
)

// mailAppliance is the demo appliance's directory (make run boots it).
var mailAppliance = filepath.Join("..", "appliance", "mail")

// mailSpec is the image ichi-vm builds from appliance/mail (its services
// and rootfs, and as its ichi-vm.flags says: tcpserver, Debian's exim as
// /usr/sbin/exim4; vmtest adds the modules) with more services for the
// tests.
func mailSpec(t *testing.T, more ...initramfs.Service) initramfs.Spec {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(mailAppliance, "service"))
	if err != nil {
		t.Fatal(err)
	}
	var services []initramfs.Service
	for _, e := range entries {
		services = append(services, initramfs.Service{Name: e.Name(), Dir: filepath.Join(mailAppliance, "service", e.Name())})
	}
	exim := filepath.Join("..", ".cache", "exim", "root", "usr", "sbin", "exim4")
	if _, err := os.Stat(exim); err != nil {
		testutil.Missing(t, "Debian's exim (make deps unpacks it into .cache/exim): %v", err)
	}
	tcpserver := testutil.Need(t, "tcpserver")
	return initramfs.Spec{
		Programs: []initramfs.Program{{Src: tcpserver}, {Src: exim, Dst: "/usr/sbin/exim4"}},
		Services: append(services, more...),
		Files:    []initramfs.File{{Src: filepath.Join(mailAppliance, "rootfs"), Dst: "/"}},
	}
}

// seqService writes "seq BOOT N" with N = 1, 2, 3, ... every 10 ms (BOOT
// names the boot) into an in-process multilog on the persistent disk, small
// files so that rotation takes part.
var seqService = initramfs.Service{
	Name: "seq",
	Run: `#!/bin/sh
boot=$(cut -c1-8 /proc/sys/kernel/random/boot_id)
i=0
while :; do
	i=$((i+1))
	echo "seq $boot $i"
	sleep 0.01
done
`,
	Multilog: "t s4096 n100 /data/log/seq",
}

// readSeqLog reads every file of the seq service's log in order. The logger
// keeps writing meanwhile: a rotation between listing the files and reading
// current would hide the lines it moved, so the reading is done again until
// the directory did not change under it.
const readSeqLog = `cd /data/log/seq || exit 1
while :; do
	before=$(ls)
	log=$(for f in @* current; do [ -f "$f" ] && cat "$f"; done)
	[ "$before" = "$(ls)" ] && break
done
printf '%s\n' "$log"`

// seqRuns parses the seq log: for each run of the service (in order), its
// boot and the numbers it wrote; it reports lines that are not seq lines.
type seqRun struct {
	boot string
	nums []int
}

func parseSeq(log string) ([]seqRun, []string) {
	var runs []seqRun
	var bad []string
	for _, l := range vmtest.ParseLog([]byte(log)) {
		f := strings.Fields(l.Text)
		if len(f) != 3 || f[0] != "seq" || l.Time.IsZero() {
			bad = append(bad, l.String())
			continue
		}
		n, err := strconv.Atoi(f[2])
		if err != nil {
			bad = append(bad, l.String())
			continue
		}
		if len(runs) == 0 || runs[len(runs)-1].boot != f[1] || n == 1 {
			runs = append(runs, seqRun{boot: f[1]})
		}
		r := &runs[len(runs)-1]
		r.nums = append(r.nums, n)
	}
	return runs, bad
}

// gaps describes where nums is not 1, 2, 3, ...
func gaps(nums []int) string {
	var b strings.Builder
	want := 1
	for _, n := range nums {
		if n != want {
			fmt.Fprintf(&b, " %d after %d;", n, want-1)
		}
		want = n + 1
	}
	return b.String()
}

// smtp is a minimal SMTP client conversation: each command with the reply
// code it must get.
type smtp struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

// reply reads one (possibly multi-line) reply and returns its code and text.
func (s *smtp) reply() (int, string, error) {
	var text strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return 0, text.String(), err
		}
		text.WriteString(line)
		if len(line) < 4 {
			return 0, text.String(), fmt.Errorf("short SMTP reply %q", line)
		}
		if line[3] == ' ' {
			code, err := strconv.Atoi(line[:3])
			return code, text.String(), err
		}
	}
}

func (s *smtp) cmd(line string, want int) string {
	s.t.Helper()
	if _, err := fmt.Fprintf(s.c, "%s\r\n", line); err != nil {
		s.t.Fatalf("SMTP %q: %v", line, err)
	}
	code, text, err := s.reply()
	if err != nil || code != want {
		s.t.Fatalf("SMTP %q: got %d %q (%v), want %d", line, code, text, err, want)
	}
	return text
}

// dialSMTP connects to the guest's port 25 through the forwarded host port
// and reads the greeting, trying again until timeout: QEMU accepts on the
// host before the guest listens.
func dialSMTP(t *testing.T, vm *vmtest.VM, timeout time.Duration) *smtp {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := vm.Dial(25)
		if err == nil {
			c.SetDeadline(time.Now().Add(30 * time.Second))
			s := &smtp{t: t, c: c, r: bufio.NewReader(c)}
			code, text, err := s.reply()
			if err == nil && code == 220 {
				t.Cleanup(func() { c.Close() })
				return s
			}
			c.Close()
			if err == nil {
				t.Fatalf("SMTP greeting %q", text)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SMTP greeting through host port %d after %v: %v\n%s", vm.HostPort(25), timeout, err, vm.ConsoleTail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// shutdownSteps are the console lines of an orderly shutdown, in order.
func shutdownSteps(action, kernel string) []string {
	return []string{
		`ichi: shutdown: ` + action + `\n`,
		`ichi: shutdown: services stopped \(`,
		`ichi: shutdown: loggers drained \(`,
		`ichi: shutdown: killed \d+ remaining processes \(`,
		`ichi: shutdown: synced \(`,
		`ichi: shutdown: unmounted [1-9]\d* file systems, \d+ read-only \(`,
		`ichi: shutdown: reboot\(2\) ` + action + `\n`,
		kernel,
	}
}

// checkShutdown checks the steps appear on the console in order.
func checkShutdown(t *testing.T, console string, steps []string) {
	t.Helper()
	rest := console
	for _, s := range steps {
		loc := regexp.MustCompile(s).FindStringIndex(rest)
		if loc == nil {
			i := strings.LastIndex(console, "ichi: shutdown:")
			t.Errorf("console lacks %q after the previous shutdown step; console from the shutdown on:\n%s", s, console[max(0, strings.LastIndex(console[:max(0, i)], "\n")):])
			return
		}
		rest = rest[loc[1]:]
	}
}

// checkClean reports whether the ext4 image was unmounted cleanly: its
// superblock says clean and its journal needs no recovery.
func checkClean(t *testing.T, img string) {
	t.Helper()
	out, err := exec.Command(testutil.Need(t, "dumpe2fs"), "-h", img).CombinedOutput()
	if err != nil {
		t.Fatalf("dumpe2fs %s: %v\n%s", img, err, out)
	}
	s := string(out)
	if !regexp.MustCompile(`(?m)^Filesystem state:\s+clean$`).MatchString(s) {
		t.Errorf("%s was not unmounted cleanly:\n%s", img, s[:min(len(s), 1500)])
	}
	if strings.Contains(s, "needs_recovery") {
		t.Errorf("%s: the journal needs recovery", img)
	}
}

// TestMailAppliance boots the demo appliance twice on one persistent disk
// and checks it from the host: services up, DHCP, mail delivered over the
// forwarded port into the Maildir, tcpserver back after SIGKILL, no zombies,
// poweroff by signal with every shutdown step and a clean disk; then, on the
// second boot of the same disk, every number the seq service logged until
// the shutdown, and an orderly reboot from ctrl-alt-del.
func TestMailAppliance(t *testing.T) {
	t.Parallel()
	disk := filepath.Join(t.TempDir(), "data.img")
	testutil.Need(t, "mkfs.ext4")
	if err := vmtest.MakeDisk(disk, "64M", filepath.Join(mailAppliance, "disk")); err != nil {
		t.Fatal(err)
	}
	spec := mailSpec(t, seqService)
	opts := vmtest.Options{Name: "mail-boot1", Spec: spec, Ports: []int{25}, Disks: []string{disk}, Timeout: 4 * time.Minute}

	vm := vmtest.Start(t, opts)
	for _, s := range []string{"smtpd", "console", "seq", vmtest.AgentService} {
		if err := vm.WaitUp(s, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("svstat", func(t *testing.T) {
		out, err := vm.Output("svstat /service/*", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		up := regexp.MustCompile(`^/service/(console|smtpd|seq|vmagent): up \(pid \d+\) \d+ seconds$`)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 {
			t.Errorf("svstat shows %d services, want 4:\n%s", len(lines), out)
		}
		for _, l := range lines {
			if !up.MatchString(l) {
				t.Errorf("svstat: %q is not a service up", l)
			}
		}
	})

	t.Run("dhcp", func(t *testing.T) {
		if !regexp.MustCompile(`ichi: dhcp: bound eth0 10\.0\.2\.15/24 from 10\.0\.2\.2 via 10\.0\.2\.2 dns \[10\.0\.2\.3\] for \d`).MatchString(vm.Console()) {
			t.Errorf("no DHCP lease from QEMU's server on the console:\n%s", vm.ConsoleTail(30))
		}
		out, err := vm.Output("ip -4 addr show eth0; ip -4 route; cat /etc/resolv.conf", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"inet 10.0.2.15/24", "default via 10.0.2.2", "nameserver 10.0.2.3"} {
			if !strings.Contains(out, want) {
				t.Errorf("guest network lacks %q:\n%s", want, out)
			}
		}
	})

	subject := fmt.Sprintf("ichi test %d", time.Now().UnixNano())
	t.Run("smtp", func(t *testing.T) {
		s := dialSMTP(t, vm, 60*time.Second)
		s.cmd("HELO client.test", 250)
		s.cmd("MAIL FROM:<bob@client.test>", 250)
		s.cmd("RCPT TO:<someone@elsewhere.test>", 550) // no relaying
		s.cmd("RCPT TO:<nobody@ichi.test>", 550)       // no such mailbox
		s.cmd("RCPT TO:<alice@ichi.test>", 250)
		s.cmd("DATA", 354)
		s.cmd("From: bob@client.test\r\nTo: alice@ichi.test\r\nSubject: "+subject+"\r\n\r\nHello from the host.\r\n.", 250)
		s.cmd("QUIT", 221)

		find := "grep -l '^Subject: " + subject + "$' /data/mail/Maildir/alice/new/*"
		if err := vm.WaitCommand(find, 30*time.Second); err != nil {
			logs, _ := vm.Output("tail -n 20 /data/log/exim4/* /data/spool/exim4/msglog/*", 10*time.Second)
			t.Fatalf("%v\n--- exim's logs and the mail directories ---\n%s", err, logs)
		}
		msg, err := vm.Output("cat $("+find+"); stat -c '%U %a' $("+find+")", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Envelope-to: alice@ichi.test", "Return-path: <bob@client.test>", "Subject: " + subject, "Hello from the host.", "vmail 600"} {
			if !strings.Contains(msg, want) {
				t.Errorf("delivered message lacks %q:\n%s", want, msg)
			}
		}
		// tcpserver's -v lines are in the log on the disk, stamped.
		if err := vm.WaitCommand(`grep -q 'tcpserver: end .* status 0' /data/log/smtpd/current`, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		lines, err := vm.LogLines("/data/log/smtpd/current")
		if err != nil {
			t.Fatal(err)
		}
		ok := regexp.MustCompile(`^tcpserver: ok \d+ mail\.ichi\.test:10\.0\.2\.15:25 :10\.0\.2\.2::\d+$`)
		found := false
		for _, l := range lines {
			if l.Time.IsZero() {
				t.Errorf("log line without a TAI64N label: %q", l.Text)
			}
			found = found || ok.MatchString(l.Text)
		}
		if !found {
			t.Errorf("no tcpserver 'ok' line for the host's connection in the log:\n%v", lines)
		}
	})

	t.Run("sigkill", func(t *testing.T) {
		// In the guest: SIGKILL tcpserver, then watch svstat every 50 ms
		// until it shows another pid up; print the seconds it took.
		script := `pid() { svstat /service/smtpd | sed -n 's/.*: up (pid \([0-9]*\)).*/\1/p'; }
old=$(pid)
[ -n "$old" ] || { echo "smtpd not up"; exit 1; }
t0=$(cut -d' ' -f1 /proc/uptime)
kill -KILL "$old"
for i in $(seq 1 100); do
	new=$(pid)
	if [ -n "$new" ] && [ "$new" != "$old" ]; then
		t1=$(cut -d' ' -f1 /proc/uptime)
		echo "$old $new $(echo "$t0 $t1" | awk '{print $2-$1}')"
		exit 0
	fi
	sleep 0.05
done
echo "old $old, still not replaced"; exit 1`
		out, err := vm.Output(script, 60*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var old, new int
		var secs float64
		if _, err := fmt.Sscanf(out, "%d %d %g", &old, &new, &secs); err != nil {
			t.Fatalf("unexpected output %q: %v", out, err)
		}
		t.Logf("tcpserver pid %d killed, pid %d up %.2f s later", old, new, secs)
		if secs > 2 {
			t.Errorf("tcpserver came back %.2f s after SIGKILL, want within 2 s", secs)
		}
		// The new tcpserver serves.
		s := dialSMTP(t, vm, 30*time.Second)
		s.cmd("QUIT", 221)
	})

	t.Run("no zombies", func(t *testing.T) { checkNoZombies(t, vm) })

	// The last number seq logged before the shutdown began.
	last, err := vm.Output("tail -n 1 /data/log/seq/current", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lastLines := vmtest.ParseLog([]byte(last))
	f := strings.Fields(lastLines[len(lastLines)-1].Text)
	if len(f) != 3 {
		t.Fatalf("seq log's last line %q", last)
	}
	boot1, before := f[1], f[2]

	console, err := vm.Poweroff(90 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("poweroff", func(t *testing.T) {
		checkShutdown(t, console, shutdownSteps("poweroff", `reboot: Power down`))
		checkClean(t, disk)
	})

	// Second boot of the same disk, on two processors: the machine then
	// loads the file system's modules beside the devices' before it
	// mounts the disk (the first boot, on one, loads them in turn).
	opts.Name = "mail-boot2"
	opts.CPUs = 2
	vm2 := vmtest.Start(t, opts)
	if err := vm2.WaitUp("seq", 2*time.Minute); err != nil {
		t.Fatal(err)
	}

	t.Run("two processors", func(t *testing.T) {
		out, err := vm2.Output("nproc", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != "2" {
			t.Errorf("the second boot's guest has %q processors, want 2", out)
		}
	})

	t.Run("seq log after reboot", func(t *testing.T) {
		log, err := vm2.Output(readSeqLog, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		runs, bad := parseSeq(log)
		if len(bad) > 0 {
			t.Errorf("%d lines of the seq log are not seq lines: %q", len(bad), bad[:min(len(bad), 5)])
		}
		if len(runs) == 0 || runs[0].boot != boot1 {
			t.Fatalf("the seq log does not start with the first boot's run (%s): %d runs", boot1, len(runs))
		}
		var summary strings.Builder
		for _, r := range runs {
			fmt.Fprintf(&summary, "run of boot %s: %d numbers, %d to %d\n", r.boot, len(r.nums), r.nums[0], r.nums[len(r.nums)-1])
		}
		t.Logf("seq log:\n%s", summary.String())
		r := runs[0]
		n, _ := strconv.Atoi(before)
		if g := gaps(r.nums); g != "" {
			t.Errorf("the first boot's numbers have gaps:%s", g)
		}
		if r.nums[len(r.nums)-1] < n {
			t.Errorf("the first boot's log ends at %d, but %d was logged before the shutdown", r.nums[len(r.nums)-1], n)
		}
		t.Logf("first boot: numbers 1 to %d, %d logged when the shutdown began", r.nums[len(r.nums)-1], n)
		files, err := vm2.Output("ls /data/log/seq | grep -c '^@'", 10*time.Second)
		if err == nil {
			t.Logf("seq log: %s rotated files", strings.TrimSpace(files))
		}
		if len(runs) < 2 || runs[1].boot == boot1 {
			t.Errorf("no run of the second boot after the first boot's in the log")
		} else if g := gaps(runs[1].nums); g != "" {
			t.Errorf("the second boot's numbers have gaps:%s", g)
		}
	})

	t.Run("mail kept", func(t *testing.T) {
		if err := vm2.WaitCommand("grep -q '^Subject: "+subject+"$' /data/mail/Maildir/alice/new/*", 20*time.Second); err != nil {
			t.Error(err)
		}
	})

	t.Run("ctrl-alt-del", func(t *testing.T) {
		if err := vm2.WaitUp("smtpd", time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := vm2.Monitor("sendkey ctrl-alt-delete", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		console, err := vm2.Wait(90 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		checkShutdown(t, console, shutdownSteps("reboot", `reboot: Restarting system`))
		checkClean(t, disk)
	})
}

// TestParseSeq checks the seq log reader the reboot check relies on.
func TestParseSeq(t *testing.T) {
	log := "@400000006b07bb5f0b8ecb2c seq aaaa 1\n" +
		"@400000006b07bb5f0b8ecb2d seq aaaa 2\n" +
		"@400000006b07bb5f0b8ecb2e seq aaaa 4\n" +
		"@400000006b07bb5f0b8ecb2f seq bbbb 1\n" +
		"@400000006b07bb5f0b8ecb30 seq bbbb 2\n" +
		"@400000006b07bb5f0b8ecb31 seq bbbb 1\n" +
		"no label\n"
	runs, bad := parseSeq(log)
	if len(bad) != 1 || len(runs) != 3 {
		t.Fatalf("runs %+v bad %q", runs, bad)
	}
	for i, want := range []struct {
		boot, gaps string
	}{{"aaaa", " 4 after 2;"}, {"bbbb", ""}, {"bbbb", ""}} {
		if runs[i].boot != want.boot || gaps(runs[i].nums) != want.gaps {
			t.Errorf("run %d: %+v, gaps %q; want %s %q", i, runs[i], gaps(runs[i].nums), want.boot, want.gaps)
		}
	}
}
