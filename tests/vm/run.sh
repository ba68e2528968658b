#!/bin/bash
# Boots the test kernel under qemu (TCG) with a throwaway busybox initramfs,
# runs GUEST.sh as root in the guest with cwd /mnt/disk (EXT4.img as
# /dev/vda) and exits with its status.
#   run.sh --kernel BZIMAGE --disk EXT4.img --script GUEST.sh [--bin PATH]...
#          [--timeout SECS] [--log FILE] [--mem MB] [--append KERNEL-ARGS]
# Each --bin program lands at its own path, with the libraries ldd reports,
# and is on PATH by its name (a copy in /usr/local/bin).
# Exit: the guest's status; 124 on timeout; 125 if the guest printed no
# status (boot failure, disk not mountable, kernel panic...).
set -euo pipefail

usage() { sed -n '2,10s/^# \{0,1\}//p' "$0" >&2; exit 2; }
kernel='' disk='' script='' timeout=300 log='' mem=512 append='' bins=()
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--kernel) kernel=$2 ;;
	--disk) disk=$2 ;;
	--script) script=$2 ;;
	--bin) bins+=("$2") ;;
	--timeout) timeout=$2 ;;
	--log) log=$2 ;;
	--mem) mem=$2 ;;
	--append) append=$2 ;;
	*) usage ;;
	esac
	shift 2
done
if [ -z "$kernel" ] || [ -z "$disk" ] || [ -z "$script" ]; then usage; fi
for f in "$kernel" "$disk" "$script" /bin/busybox; do
	[ -r "$f" ] || { echo "run: cannot read $f" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lading-vm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[ -n "$log" ] || log=$tmp/console.log
root=$tmp/root

# Busybox (static) and its applets in /bin, last on PATH, so --bin programs
# win over applets of the same name.
mkdir -p "$root"/{bin,dev,proc,sys,tmp,mnt/disk,etc}
cp /bin/busybox "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do
	[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
done

# A file at its own path inside the initramfs (symlinks resolved).
put() {
	mkdir -p "$root$(dirname "$1")"
	rm -f "$root$1"
	cp -L "$1" "$root$1"
}
for b in "${bins[@]}"; do
	b=$(realpath -s "$b")
	[ -x "$b" ] || { echo "run: --bin $b is not an executable" >&2; exit 2; }
	put "$b"
	# a copy, not a link: the guest mounts a tmpfs on /tmp, which would
	# hide a program built under /tmp (a CI clone, say)
	mkdir -p "$root/usr/local/bin"
	[ -e "$root/usr/local/bin/${b##*/}" ] || cp -L "$b" "$root/usr/local/bin/${b##*/}"
	# Static programs make ldd fail; every absolute path it prints is a
	# library or the loader.
	for lib in $(ldd "$b" 2>/dev/null | grep -o '/[^ ]*' || true); do
		[ -e "$root$lib" ] || put "$lib"
	done
done
cp "$script" "$root/test.sh"

# The marker is printed only once the disk is mounted, so a missing marker
# means the infrastructure failed, not the test.
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LADING_VM=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
if mount -t ext4 /dev/vda /mnt/disk; then
	cd /mnt/disk
	sh /test.sh </dev/null
	rc=$?
	echo "LADING-VM-EXIT $rc"
	# The host reads the disk back (debugfs does not replay the journal):
	# stop leftover daemons, unmount what pins the disk (EROFS mounts hold
	# cachefiles objects), then unmount it, or at least make it read-only.
	cd /
	kill -9 -1
	sync
	for m in $(awk '$3 == "erofs" || $2 ~ "^/mnt/disk/" { print $2 }' /proc/mounts | tac); do
		umount "$m"
	done
	for i in 1 2 3 4 5 6 7 8 9 10; do
		umount /mnt/disk 2>/dev/null && break
		sleep 0.1
	done
	if grep -q ' /mnt/disk ' /proc/mounts; then
		echo "lading-vm: cannot unmount /mnt/disk"
		mount -o remount,ro /mnt/disk
	fi
else
	echo "lading-vm: cannot mount /dev/vda"
fi
# The kernel has no ACPI, so poweroff would only halt the CPU; a reboot
# makes qemu (-no-reboot) exit.
reboot -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$tmp/initrd.gz"

start=$(date +%s%N)
set +e
timeout -k 10 "$timeout" qemu-system-x86_64 -accel tcg -cpu max -m "$mem" \
	-nographic -no-reboot -nic none -kernel "$kernel" -initrd "$tmp/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet $append" \
	-drive "file=$disk,format=raw,if=virtio" </dev/null 2>&1 | tee "$log" >&2
qrc=${PIPESTATUS[0]}
set -e
ms=$(( ($(date +%s%N) - start) / 1000000 ))

if [ "$qrc" -eq 124 ]; then
	echo "run: guest timed out after $timeout s" >&2
	exit 124
fi
rc=$(tr -d '\r' <"$log" | sed -n 's/.*LADING-VM-EXIT \([0-9]\{1,\}\)$/\1/p' | tail -n 1)
if [ -z "$rc" ]; then
	echo "run: no exit status from the guest (qemu status $qrc); console ends:" >&2
	tr -d '\r' <"$log" | tail -n 20 >&2
	exit 125
fi
printf 'run: guest exited with %s after %d.%03d s\n' "$rc" $((ms / 1000)) $((ms % 1000)) >&2
exit "$rc"
