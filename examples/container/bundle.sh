#!/bin/sh
# bundle.sh DIR: builds an OCI bundle of the example container in DIR
# (DIR/rootfs and DIR/config.json) from bin/init and busybox-static, for any
# OCI runtime:
#
#   make && sh examples/container/bundle.sh /tmp/ichi-example
#   crun run --bundle /tmp/ichi-example ichi-example
#   crun kill ichi-example TERM     # from another terminal: a graceful stop
#
# (On a host whose cgroup v2 hierarchy is mounted beside v1 controllers, crun
# needs --cgroup-manager=disabled and a mount namespace without
# /sys/fs/cgroup/unified; the tests in internal/container do that.)
set -eu
dir=${1:?usage: bundle.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
init=${ICHI_BIN:-$top/bin/init}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$init" ] || { echo "bundle.sh: $init not found: run make first" >&2; exit 111; }
[ -x "$busybox" ] || { echo "bundle.sh: $busybox not found: install busybox-static" >&2; exit 111; }

rootfs=$dir/rootfs
rm -rf "$rootfs"
mkdir -p "$rootfs/bin" "$rootfs/sbin" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp" "$rootfs/etc"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
cp "$init" "$rootfs/sbin/init"
cp -R "$here/service" "$rootfs/service"
cp -R "$here/www" "$rootfs/www"
cp "$here/app.sh" "$rootfs/app.sh"
echo "root:x:0:0:root:/:/bin/sh" >"$rootfs/etc/passwd"
echo "root:x:0:" >"$rootfs/etc/group"

cat >"$dir/config.json" <<'JSON'
{
	"ociVersion": "1.0.0",
	"process": {
		"terminal": false,
		"user": {"uid": 0, "gid": 0},
		"args": ["/sbin/init", "--services", "/service", "--stop-timeout", "5s", "--", "/app.sh"],
		"env": ["PATH=/bin:/sbin"],
		"cwd": "/",
		"capabilities": {
			"bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"],
			"effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"],
			"permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"]
		},
		"noNewPrivileges": true
	},
	"root": {"path": "rootfs", "readonly": false},
	"hostname": "ichi-example",
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
		{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
		{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
		{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}
	],
	"linux": {
		"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
		"maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
		"readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
	}
}
JSON
echo "bundle.sh: bundle in $dir; run it with: crun run --bundle $dir ichi-example"
