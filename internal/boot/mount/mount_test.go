package mount

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/ichi-init/ichi/internal/testutil"
	"golang.org/x/sys/unix"
)

const sampleMountinfo = `22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
23 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
30 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
41 30 0:40 /sub /mnt/with\040space rw - tmpfs my\134src rw,size=1024k
42 30 0:41 / /x rw master:3 propagate_from:2 unbindable - 9p none
`

func TestParseMountinfo(t *testing.T) {
	infos, err := ParseMountinfo(strings.NewReader(sampleMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 5 {
		t.Fatalf("%d entries", len(infos))
	}
	want := Info{ID: 41, Parent: 30, Root: "/sub", MountPoint: "/mnt/with space", Options: "rw", FSType: "tmpfs", Source: `my\src`, SuperOptions: "rw,size=1024k"}
	if infos[3] != want {
		t.Errorf("got %+v\nwant %+v", infos[3], want)
	}
	if infos[4].FSType != "9p" || infos[4].Source != "none" || infos[4].SuperOptions != "" {
		t.Errorf("optional fields: %+v", infos[4])
	}
	if !IsMountPoint(infos, "/mnt/with space") || IsMountPoint(infos, "/mnt") {
		t.Error("IsMountPoint")
	}
	// The real table of this process parses.
	if _, err := ReadMountinfo(""); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"22 1 0:21 / /proc rw - proc\n", "x 1 0:21 / /proc rw - proc proc rw\n", "22 1 0:21 / /proc rw shared:5 proc proc rw x\n"} {
		if _, err := ParseMountinfo(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1: malformed") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		in   string
		want Options
	}{
		{"defaults", Options{}},
		{"", Options{}},
		{"ro,noatime,nosuid", Options{Flags: unix.MS_RDONLY | unix.MS_NOATIME | unix.MS_NOSUID}},
		{"ro,rw", Options{}},
		{"defaults,noauto,nofail,x-systemd.automount,comment=x,_netdev,user", Options{NoAuto: true, NoFail: true}},
		{"size=10m,mode=0755,nodev,errors=remount-ro", Options{Flags: unix.MS_NODEV, Data: "size=10m,mode=0755,errors=remount-ro"}},
		{"bind,ro", Options{Flags: unix.MS_BIND | unix.MS_RDONLY}},
		{"rbind", Options{Flags: unix.MS_BIND | unix.MS_REC}},
	}
	for _, tt := range tests {
		got, err := ParseOptions(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseOptions(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseFstab(t *testing.T) {
	in := `# /etc/fstab
/dev/vda1  /          ext4   defaults,noatime  0 1

tmpfs      /tmp       tmpfs  nosuid,nodev,size=64m
/dev/vdb   none       swap   sw
proc       /proc      proc   defaults
/srv/a\040b /mnt/a\040b none  bind,ro 0 0
`
	got, err := ParseFstab(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Line: 2, Spec: "/dev/vda1", File: "/", VfsType: "ext4", RawOpts: "defaults,noatime", Options: Options{Flags: unix.MS_NOATIME}, Passno: 1},
		{Line: 4, Spec: "tmpfs", File: "/tmp", VfsType: "tmpfs", RawOpts: "nosuid,nodev,size=64m", Options: Options{Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "size=64m"}},
		{Line: 5, Spec: "/dev/vdb", File: "none", VfsType: "swap", RawOpts: "sw", Options: Options{Data: "sw"}},
		{Line: 6, Spec: "proc", File: "/proc", VfsType: "proc", RawOpts: "defaults"},
		{Line: 7, Spec: "/srv/a b", File: "/mnt/a b", VfsType: "none", RawOpts: "bind,ro", Options: Options{Flags: unix.MS_BIND | unix.MS_RDONLY}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseFstabErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/dev/vda1 /\n", "fstab line 1: want 3 to 6 fields"},
		{"# c\n/dev/vda1 / ext4 defaults 0 1 extra\n", "fstab line 2: want 3 to 6 fields"},
		{"/dev/vda1 / ext4 defaults x\n", `fstab line 1: field 5 (freq) "x" is not a number`},
		{"/dev/vda1 / ext4 defaults 0 -1\n", `field 6 (passno) "-1"`},
		{"/dev/vda1 data ext4\n", `fstab line 1: mount point "data" is not an absolute path`},
		{"LABEL=root / ext4\n", "fstab line 1: LABEL=root: ichi cannot look up LABEL="},
		{"UUID=1234 / ext4\n", "UUID=1234"},
	}
	for _, tt := range tests {
		_, err := ParseFstab(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseFstab(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func FuzzParseFstab(f *testing.F) {
	f.Add("/dev/vda1 / ext4 defaults,noatime 0 1\ntmpfs /tmp tmpfs size=1m\n")
	f.Add("a\\040b /x\\011 none bind,ro\n")
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := ParseFstab(strings.NewReader(s))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fstab line ") && !strings.Contains(err.Error(), "token too long") {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for _, e := range entries {
			if e.Line < 1 || e.Spec == "" || e.VfsType == "" || (e.VfsType != "swap" && !strings.HasPrefix(e.File, "/")) {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add(sampleMountinfo)
	f.Fuzz(func(t *testing.T, s string) {
		infos, err := ParseMountinfo(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, in := range infos {
			if in.FSType == "" || in.FSType == "-" {
				t.Fatalf("bad entry %+v", in)
			}
		}
	})
}

// The mounting tests run in a child in a mount namespace of its own with
// propagation turned off, so nothing reaches the host's table.
const childEnv = "ICHI_MOUNT_CHILD"

func TestMain(m *testing.M) {
	if root := os.Getenv(childEnv); root != "" {
		os.Exit(mountChild(root))
	}
	os.Exit(m.Run())
}

type childResult struct {
	First, Second []string
	FirstErr      string
	Fstab         []string
	FstabErr      string
	Table         []Info
}

func mountChild(root string) int {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var r childResult
	var err error
	r.First, err = MountEarly(root, EarlyMounts)
	if err != nil {
		r.FirstErr = err.Error()
	}
	r.Second, _ = MountEarly(root, EarlyMounts)
	os.MkdirAll(root+"/data", 0o755)
	os.MkdirAll(root+"/ro", 0o755)
	os.MkdirAll(root+"/src dir", 0o755)
	os.WriteFile(root+"/fstab", []byte(fmt.Sprintf(`# test
tmpfs %[1]s/data tmpfs nosuid,size=1m,mode=0700 0 0
/dev/ichi-no-such %[1]s/ro ext4 defaults
/dev/ichi-no-such %[1]s/ro ext4 nofail
tmpfs %[1]s/ro tmpfs noauto
%[2]s %[1]s/ro none bind,ro
`, root, strings.ReplaceAll(root+"/src dir", " ", `\040`))), 0o644)
	r.Fstab, err = MountFstab(root + "/fstab")
	if err != nil {
		r.FstabErr = err.Error()
	}
	r.Table, _ = ReadMountinfo("")
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

func TestMountInNamespace(t *testing.T) {
	testutil.NeedRoot(t)
	root := t.TempDir()
	self, _ := os.Executable()
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+root)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var r childResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var want []string
	for _, m := range EarlyMounts {
		want = append(want, filepath.Join(root, m.Target))
	}
	if !reflect.DeepEqual(r.First, want) || r.FirstErr != "" {
		t.Errorf("first MountEarly mounted %v (%s), want %v", r.First, r.FirstErr, want)
	}
	if len(r.Second) != 0 {
		t.Errorf("second MountEarly mounted %v again", r.Second)
	}
	fs := map[string]Info{}
	for _, in := range r.Table {
		fs[in.MountPoint] = in
	}
	for _, m := range EarlyMounts {
		if in := fs[filepath.Join(root, m.Target)]; in.FSType != m.FSType {
			t.Errorf("%s: %+v, want %s", m.Target, in, m.FSType)
		}
	}
	if in := fs[root+"/data"]; in.FSType != "tmpfs" || !strings.Contains(in.Options, "nosuid") || !strings.Contains(in.SuperOptions, "size=1024k") || !strings.Contains(in.SuperOptions, "mode=700") {
		t.Errorf("fstab tmpfs: %+v", in)
	}
	if in := fs[root+"/ro"]; in.Root != root+"/src dir" || !strings.HasPrefix(in.Options, "ro") {
		t.Errorf("fstab bind,ro: %+v", in)
	}
	if !reflect.DeepEqual(r.Fstab, []string{root + "/data", root + "/ro"}) {
		t.Errorf("fstab mounted %v", r.Fstab)
	}
	if want := root + "/fstab: fstab line 3 (/dev/ichi-no-such " + root + "/ro ext4): mount /dev/ichi-no-such on " + root + "/ro: no such file or directory"; r.FstabErr != want {
		t.Errorf("fstab error\n got %q\nwant %q", r.FstabErr, want)
	}
}

// statx's answer agrees with the mount table on every mount point here
// (whose path has no symbolic link: statx follows them, the table does
// not), and a directory that is not a mount point is not one.
func TestStatxMountRootAgreesWithMountinfo(t *testing.T) {
	infos, err := ReadMountinfo("")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, in := range infos {
		if real, err := filepath.EvalSymlinks(in.MountPoint); err != nil || real != in.MountPoint {
			continue
		}
		mounted, ok := statxMountRoot(in.MountPoint)
		if !ok {
			t.Fatalf("statx does not tell whether %s is a mount point (kernel before 5.8?)", in.MountPoint)
		}
		if !mounted {
			t.Errorf("%s is in the mount table, and statx says it is not a mount point", in.MountPoint)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no mount point checked")
	}
	dir := t.TempDir()
	if mounted, ok := statxMountRoot(dir); !ok || mounted {
		t.Errorf("statx on the plain directory %s: mounted %v, ok %v", dir, mounted, ok)
	}
	if mounted, ok := statxMountRoot(filepath.Join(dir, "missing")); !ok || mounted {
		t.Errorf("statx on a missing path: mounted %v, ok %v", mounted, ok)
	}
}
