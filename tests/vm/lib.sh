# Helpers for host-side tests that run in the test-kernel VM; source it.
#   if reason=$(vm_skip_reason); then echo "SKIP: $reason"; exit 77; fi
#   kernel=$(vm_kernel); vm_make_disk disk.img 64 seed/
#   vm_run --kernel "$kernel" --disk disk.img --script guest.sh --bin ...
#   vm_disk_cat disk.img /out.txt; vm_disk_xattr disk.img /f user.x
# shellcheck shell=bash

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Prints why the VM cannot run here and succeeds, or fails silently when it
# can. --root: the caller also needs root (loop mounts and the like).
vm_skip_reason() {
	local c
	if [ "${1:-}" = --root ] && [ "$(id -u)" -ne 0 ]; then
		echo "not root"; return 0
	fi
	for c in qemu-system-x86_64 mkfs.ext4 debugfs cpio gzip ldd timeout; do
		command -v "$c" >/dev/null || { echo "$c not installed (scripts/install-deps.sh --test)"; return 0; }
	done
	# Debian's plain busybox package is dynamic: it would need its libraries.
	if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
		echo "no static /bin/busybox (apt-get install busybox-static)"; return 0
	fi
	# The build tools matter only until the kernel is cached.
	"$VM_DIR/build-kernel.sh" --cached >/dev/null 2>&1 && return 1
	[ -r /usr/src/linux-source-6.1.tar.xz ] ||
		{ echo "no /usr/src/linux-source-6.1.tar.xz (apt-get install linux-source-6.1)"; return 0; }
	for c in make gcc flex bison bc xz; do
		command -v "$c" >/dev/null || { echo "$c not installed, needed to build the test kernel"; return 0; }
	done
	[ -r /usr/include/gelf.h ] || { echo "libelf-dev not installed, needed to build the test kernel"; return 0; }
	# the unpacked sources and objects take about 1.5 GiB
	local cache=${LADING_VM_CACHE:-/var/tmp/lading-vm} avail
	mkdir -p "$cache" 2>/dev/null || true
	avail=$(df -Pk "$cache" 2>/dev/null | awk 'NR == 2 { print $4 }')
	[ "${avail:-0}" -ge $((3 * 1024 * 1024)) ] ||
		{ echo "less than 3 GiB free in $cache to build the test kernel"; return 0; }
	return 1
}

# Echoes the test kernel's bzImage, building it (~5 min) on first use.
vm_kernel() { "$VM_DIR/build-kernel.sh"; }

vm_run() { "$VM_DIR/run.sh" "$@"; }

# vm_make_disk IMG SIZE_MB [DIR]: a fresh ext4 image, optionally holding
# a copy of DIR.
vm_make_disk() {
	rm -f "$1"
	truncate -s "${2}M" "$1"
	mkfs.ext4 -F -q ${3:+-d "$3"} "$1"
}

# vm_disk_cat IMG PATH: a file from the image without mounting it (debugfs
# reports a missing file only on stderr, so look there).
vm_disk_cat() {
	local err
	err=$(mktemp)
	debugfs -R "cat $2" "$1" 2>"$err"
	if grep -v '^debugfs [0-9]' "$err" >&2; then
		rm -f "$err"; return 1
	fi
	rm -f "$err"
}

# vm_disk_xattr IMG PATH NAME: an xattr's value from the image, in hex.
vm_disk_xattr() {
	local val
	val=$(mktemp)
	if ! debugfs -R "ea_get -f $val $2 $3" "$1" 2>/dev/null || [ ! -s "$val" ]; then
		rm -f "$val"; return 1
	fi
	od -An -v -tx1 "$val" | tr -d ' \n'
	echo
	rm -f "$val"
}
