#!/bin/sh
# deps.sh installs what the tests and the demo need on a Debian machine:
# the Debian packages (only those missing; apt-get update first when the
# package lists are empty or an install fails) and Debian's kernel, fetched
# with apt-get download and unpacked into .cache/kernel (ignored by git).
set -eu
cd "$(dirname "$0")/.."

packages="qemu-system-x86 daemontools runit s6 tini dumb-init busybox-static
ucspi-tcp crun iproute2 dnsmasq-base e2fsprogs hyperfine kmod
libgnutls-dane0 libidn12 lz4 netcat-openbsd"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done

apt_update() {
	echo "deps: apt-get update"
	apt-get update -qq
}

if [ -n "$missing" ]; then
	echo "deps: installing$missing"
	[ -n "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e lock -e partial)" ] || apt_update
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing ||
		{ apt_update && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; }
fi

if ! command -v staticcheck >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/staticcheck" ]; then
	echo "deps: go install staticcheck"
	go install honnef.co/go/tools/cmd/staticcheck@latest || echo "deps: warning: staticcheck not installed; make lint will fail"
fi

# The kernel: Debian's linux-image-amd64 names the versioned package that
# holds vmlinuz and the modules.
kdir=.cache/kernel
if [ ! -f "$kdir/version" ]; then
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
	if [ -z "$pkg" ]; then
		apt_update
		pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
	fi
	[ -n "$pkg" ] || { echo "deps: fatal: cannot resolve linux-image-amd64" >&2; exit 111; }
	echo "deps: fetching $pkg"
	rm -rf "$kdir" && mkdir -p "$kdir/deb"
	(cd "$kdir/deb" && apt-get download "$pkg")
	dpkg-deb -x "$kdir"/deb/*.deb "$kdir/root"
	version=${pkg#linux-image-}
	ln -sf "root/boot/vmlinuz-$version" "$kdir/vmlinuz"
	ln -sf "root/lib/modules/$version" "$kdir/modules"
	dpkg-deb -f "$kdir"/deb/*.deb Version > "$kdir/package-version"
	echo "$version" > "$kdir/version"
fi

# Debian's package leaves modules.dep and modules.alias to its postinst
# (depmod); make them for the unpacked tree, as tests and images read them.
if [ ! -f "$kdir/modules/modules.dep" ]; then
	echo "deps: depmod $(cat "$kdir/version")"
	/sbin/depmod -b "$kdir/root" "$(cat "$kdir/version")"
fi

# The mail appliance's SMTP server: Debian's exim, unpacked (not installed, so
# no daemon starts on this machine) into .cache/exim; its shared libraries
# are the packages above.
edir=.cache/exim
if [ ! -x "$edir/root/usr/sbin/exim4" ]; then
	echo "deps: fetching exim4-daemon-light"
	rm -rf "$edir" && mkdir -p "$edir/deb"
	(cd "$edir/deb" && apt-get download exim4-daemon-light) ||
		{ apt_update && (cd "$edir/deb" && apt-get download exim4-daemon-light); }
	dpkg-deb -x "$edir"/deb/*.deb "$edir/root"
fi
