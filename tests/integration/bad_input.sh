#!/bin/bash
# Bad input: lading-mkimage must exit 1, say on stderr which entry is wrong,
# and leave nothing behind (no bootstrap, no blob, no temp files) in the
# bootstrap dir or the blob dir. Usage errors exit 2 and write nothing.
NEEDS_MOUNT=0
. "$(dirname "$0")/lib.sh"
require_cmd tar gzip

T=$WORK/in
mkdir -p "$T/src"
random_file "$T/src/first" 5000
random_file "$T/src/bigfile" 300000
random_file "$T/src/last" 5000
tar --format=posix -C "$T/src" -cf "$T/good.tar" first bigfile last

# truncated in the middle of bigfile's data
head -c 100000 "$T/good.tar" >"$T/truncated.tar"
expect_mkimage_failure bigfile "$T/truncated.tar"
STDIN_FILE=$T/truncated.tar expect_mkimage_failure bigfile -
# truncated inside a header
cut=$(python3 -c 'import sys, tarfile
print([m for m in tarfile.open(sys.argv[1]) if m.name == "last"][0].offset + 100)' "$T/good.tar")
head -c "$cut" "$T/good.tar" >"$T/trunc-header.tar"
expect_mkimage_failure "" "$T/trunc-header.tar"

# corrupt gzip: a run of 0xff bytes in the middle of a compressible stream
# breaks the deflate structure (a corruption only the gzip CRC can see is
# tested by gzip_crc.sh)
mkdir -p "$T/text"
seq 1 200000 >"$T/text/numbers"
tar --format=posix -C "$T/text" -cf "$T/text.tar" numbers
gzip -nc "$T/text.tar" >"$T/corrupt.tgz"
head -c 2000 /dev/zero | tr '\0' '\377' |
	dd of="$T/corrupt.tgz" bs=1 seek=$(($(stat -c %s "$T/corrupt.tgz") / 2)) conv=notrunc status=none
gzip -t "$T/corrupt.tgz" 2>/dev/null && fail "fixture: corrupt.tgz is not corrupt"
expect_mkimage_failure "" "$T/corrupt.tgz"

# a damaged header in the middle of a tar (libarchive skips it with a
# "Damaged tar archive, retrying" warning; skipping entries is not OK)
cp "$T/good.tar" "$T/badsum.tar"
off=$(python3 -c 'import sys, tarfile
print([m for m in tarfile.open(sys.argv[1]) if m.name == "bigfile"][0].offset)' "$T/good.tar")
printf 'XXXXXXX' | dd of="$T/badsum.tar" bs=1 seek=$((off + 148)) conv=notrunc status=none
expect_mkimage_failure "" "$T/badsum.tar"
# gzip cut short
head -c 200000 <(gzip -c "$T/good.tar") >"$T/short.tgz"
expect_mkimage_failure "" "$T/short.tgz"
# not an archive at all
random_file "$T/random.bin" 10000
expect_mkimage_failure "" "$T/random.bin"
# no such source
expect_mkimage_failure "" "$T/does-not-exist"

# crafted members
python3 - "$T" <<'PYEOF'
import io, sys, tarfile
d = sys.argv[1]
def tar(name, members):
    with tarfile.open("%s/%s.tar" % (d, name), "w", format=tarfile.PAX_FORMAT) as t:
        for m in members:
            data = None
            if m.type == tarfile.REGTYPE:
                m.size = 5
                data = io.BytesIO(b"hello")
            t.addfile(m, data)
def reg(n):
    return tarfile.TarInfo(n)
def lnk(n, target, kind=tarfile.LNKTYPE):
    m = tarfile.TarInfo(n)
    m.type = kind
    m.linkname = target
    return m
def dirm(n):
    m = tarfile.TarInfo(n)
    m.type = tarfile.DIRTYPE
    m.mode = 0o755
    return m
tar("dotdot", [reg("ok"), dirm("a"), reg("a/../../escape-dotdot")])
tar("dotdot-only", [reg("ok"), reg("../escape-up")])
tar("absolute", [reg("ok"), reg("/etc/absolute-name")])
tar("hl-missing", [reg("ok"), lnk("hl-to-missing", "no-such-target")])
tar("hl-escape", [reg("ok"), lnk("hl-escaping", "../../etc/passwd")])
PYEOF
expect_mkimage_failure escape-dotdot "$T/dotdot.tar"
expect_mkimage_failure escape-up "$T/dotdot-only.tar"
expect_mkimage_failure absolute-name "$T/absolute.tar"
expect_mkimage_failure hl-to-missing "$T/hl-missing.tar"
expect_mkimage_failure hl-escaping "$T/hl-escape.tar"
gzip -c "$T/hl-missing.tar" >"$T/hl-missing.tgz"
STDIN_FILE=$T/hl-missing.tgz expect_mkimage_failure hl-to-missing -

# A file in a directory source that cannot be read, even by root: a
# write-only sysfs attribute bind-mounted over a regular file (kernfs
# refuses to open it for reading with EACCES, whatever the capabilities).
# chmod 000 would not stop root, so that is not used.
wo=
for f in /sys/bus/pci/rescan /sys/bus/pci/drivers_probe /sys/module/*/parameters/*; do
	if [ -f "$f" ] && [ "$(stat -c %a "$f")" = 200 ] && ! head -c1 "$f" >/dev/null 2>&1; then
		wo=$f
		break
	fi
done
if [ -n "$wo" ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$T/dirsrc/sub"
	printf 'fine\n' >"$T/dirsrc/fine"
	printf 'placeholder\n' >"$T/dirsrc/sub/unreadable-file"
	mount --bind "$wo" "$T/dirsrc/sub/unreadable-file"
	head -c1 "$T/dirsrc/sub/unreadable-file" >/dev/null 2>&1 && fail "fixture: file is readable"
	expect_mkimage_failure unreadable-file "$T/dirsrc"
	umount "$T/dirsrc/sub/unreadable-file"
else
	echo "SKIP (part): $TEST_NAME: no write-only sysfs file to bind-mount (or not root); unreadable-file case not run"
fi

# Usage errors: exit 2, nothing written
usage_error() {
	local rc=0 out=$WORK/usage
	rm -rf "$out"
	mkdir -p "$out"
	"$LADING_MKIMAGE" "$@" >/dev/null 2>"$WORK/usage.err" || rc=$?
	[ $rc -eq 2 ] || { cat "$WORK/usage.err" >&2; fail "lading-mkimage $*: expected exit 2, got $rc"; }
	[ -s "$WORK/usage.err" ] || fail "lading-mkimage $*: exit 2 but nothing on stderr"
	assert_only_outputs "$out"
}
usage_error
usage_error "$WORK/usage/boot.img"
usage_error --no-such-option "$WORK/usage/boot.img" "$T/src"
for c in 3000 2048 128M 5000 0 x; do
	usage_error -C "$c" "$WORK/usage/boot.img" "$T/src"
done
usage_error -U not-a-uuid "$WORK/usage/boot.img" "$T/src"
usage_error -T yesterday "$WORK/usage/boot.img" "$T/src"
usage_error --uid -5 "$WORK/usage/boot.img" "$T/src"
log "ok: usage errors exit 2"
