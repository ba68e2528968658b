#!/bin/bash
# Smoke test of the VM infrastructure: the test kernel boots under qemu and
# has cachefiles on-demand and EROFS, glibc-dynamic (and threaded) programs
# run, and files and user xattrs written to the disk image reach the host.
# Exit 0 pass, 1 fail, 77 skip.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
# shellcheck disable=SC2119 # no --root: debugfs reads the disk back
if reason=$(vm_skip_reason); then
	echo "SKIP: $reason"
	exit 77
fi

kernel=$(vm_kernel) || { echo "FAIL: cannot build the test kernel"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lading-vm-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT

mkdir "$work/seed"
head -c 1000000 /dev/urandom >"$work/seed/input.bin"
vm_make_disk "$work/disk.img" 64 "$work/seed"

# Dynamic programs from the host: coreutils, a threaded one (xz -T2 with
# small blocks runs two worker threads), and attr's setfattr.
bins=(--bin "$(command -v sha256sum)")
for p in xz setfattr; do
	if command -v "$p" >/dev/null; then bins+=(--bin "$(command -v "$p")"); fi
done

cat >"$work/guest.sh" <<'EOF'
set -u
fail=0
check() { if "$@"; then echo "ok: $*"; else echo "FAILED: $*"; fail=1; fi; }
check test -c /dev/cachefiles
check grep -qw erofs /proc/filesystems
check sh -c '/usr/bin/sha256sum input.bin >out.txt'
# cachefiles accepts an on-demand bind and lays out its cache directory
# (closing the device unbinds again).
mkdir fscache
check sh -c 'exec 3<>/dev/cachefiles && echo "dir /mnt/disk/fscache" >&3 &&
	echo "tag smoke" >&3 && echo "bind ondemand" >&3 && test -d fscache/cache'
if [ -x /usr/bin/xz ]; then
	check sh -c '/usr/bin/xz -T2 --block-size=128KiB -c input.bin | /usr/bin/xz -dc | cmp - input.bin'
fi
if [ -x /usr/bin/setfattr ]; then
	touch xattr.txt
	check /usr/bin/setfattr -n user.CacheFiles.cache -v 0x0000002a xattr.txt
else
	echo "skip: no setfattr on the host"
fi
uname -r
exit $fail
EOF

rc=0
vm_run --kernel "$kernel" --disk "$work/disk.img" --script "$work/guest.sh" \
	--timeout 300 --log "$work/console.log" "${bins[@]}" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "FAIL: guest exited with $rc"
	exit 1
fi

# The host sees what the guest wrote.
want=$(cd "$work/seed" && sha256sum input.bin)
got=$(vm_disk_cat "$work/disk.img" /out.txt) || { echo "FAIL: no out.txt on the disk"; exit 1; }
[ "$got" = "$want" ] || { echo "FAIL: out.txt is '$got', want '$want'"; exit 1; }
if command -v setfattr >/dev/null; then
	got=$(vm_disk_xattr "$work/disk.img" /xattr.txt user.CacheFiles.cache) || got=none
	[ "$got" = 0000002a ] || { echo "FAIL: user xattr from the guest is $got, want 0000002a"; exit 1; }
fi
echo "PASS"
