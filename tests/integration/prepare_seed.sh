#!/bin/bash
# Transport blobs end to end, for every codec: build with --compress,
# lading-verify passes, lading-prepare lays out sparse cache files of the
# exact sizes (no data blocks), --seed-from fills them with verified data
# byte-identical to the uncompressed view, and a file-backed mount over the
# seeded files shows the source exactly. Then the failure modes: a damaged
# compressed chunk is named and never lands in the cache, damaged cache
# data is re-fetched, a full disk leaves no partial chunk, and the
# cachefiles layout carries the kernel's names and xattrs.
. "$(dirname "$0")/lib.sh"
require_cmd python3
[ -n "${LADING_PREPARE:-}" ] || fail "LADING_PREPARE not set"

mkdir -p "$WORK/src/d"
seq 1 150000 >"$WORK/src/text"			# compressible, several chunks
random_file "$WORK/src/random" 200000		# incompressible: stored raw
cp "$WORK/src/text" "$WORK/src/d/text-copy"	# deduplicated
echo tiny >"$WORK/src/d/tiny"			# inline
truncate -s 1M "$WORK/src/sparse"		# a hole
ln -s text "$WORK/src/link"

# data_blocks FILE: allocated 512-byte blocks
data_blocks() { stat -c %b "$1"; }

# present_ranges FILE: "start-end" data extents by SEEK_DATA/SEEK_HOLE
present_ranges() {
	python3 - "$1" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
off, out = 0, []
while off < size:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    out.append(f"{d}-{h}")
    off = h
print(" ".join(out))
PY
}

# the uncompressed view is the same whatever the codec: take it from a
# codec-none build, whose artifact starts with exactly that view
build_image "$WORK/src" -C 64K
view=$WORK/view
view_size=$(python3 -c "import json;print(json.load(open('$IMG_JSON'))['blob_uncompressed_size'])")
head -c "$view_size" "$IMG_BLOB" >"$view"

codecs="none lz4 deflate lzma"
"$LADING_MKIMAGE" --help | grep -c zstd >/dev/null && codecs="$codecs zstd"
for codec in $codecs; do
	build_image "$WORK/src" -C 64K --compress "$codec"
	cache=$WORK/cache-$codec
	"$LADING_PREPARE" -q "$IMG_BOOT" "$cache" || fail "prepare ($codec)"
	f=$cache/$IMG_BLOB_ID
	[ "$(stat -c %s "$f")" = "$view_size" ] || fail "cache file size $(stat -c %s "$f") != $view_size"
	[ "$(data_blocks "$f")" = 0 ] || fail "fresh cache file uses $(data_blocks "$f") blocks"
	boot_id=$(sha256sum "$IMG_BOOT" | cut -d' ' -f1)
	cmp -s "$IMG_BOOT" "$cache/$boot_id" || fail "bootstrap not in the cache as $boot_id"

	"$LADING_PREPARE" --json --seed-from "$IMG_OUT" "$IMG_BOOT" "$cache" \
		>"$WORK/seed-$codec.json" || fail "seeding ($codec)"
	cmp "$view" "$f" || fail "seeded cache file differs from the uncompressed view ($codec)"
	fetched=$(python3 -c "import json;print(json.load(open('$WORK/seed-$codec.json'))['blobs'][0]['fetched'])")
	[ "$fetched" -gt 0 ] || fail "nothing fetched ($codec)"
	# idempotent: nothing fetched the second time
	"$LADING_PREPARE" --json --seed-from "$IMG_OUT" "$IMG_BOOT" "$cache" \
		>"$WORK/seed2.json" || fail "re-seeding ($codec)"
	python3 -c "import json,sys;b=json.load(open('$WORK/seed2.json'))['blobs'][0];sys.exit(b['fetched']!=0 or b['present_before']!=$fetched)" ||
		fail "re-seeding fetched again: $(cat "$WORK/seed2.json")"
	mount_image "$cache/$boot_id" "$f"
	treecmp "$WORK/src" "$MNT"
	unmount_image
	log "ok: $codec: verified, prepared sparse, seeded, mounted, equal"
done

# a damaged compressed chunk: named, not written, the others are
build_image "$WORK/src" -C 64K --compress lz4
mkdir -p "$WORK/bad"
cp "$IMG_BLOB" "$WORK/bad/"
flip_bytes "$WORK/bad/$IMG_BLOB_ID" 30 4
rc=0
"$LADING_PREPARE" --seed-from "$WORK/bad" "$IMG_BOOT" "$WORK/cache-bad" \
	>/dev/null 2>"$WORK/bad.err" || rc=$?
[ $rc = 1 ] || fail "seeding from a damaged blob: exit $rc"
grep -q "blob $IMG_BLOB_ID: chunk 0 .*not written" "$WORK/bad.err" ||
	fail "damage not named: $(cat "$WORK/bad.err")"
ranges=$(present_ranges "$WORK/cache-bad/$IMG_BLOB_ID")
case $ranges in
65536-*) ;;
*) fail "chunk 0 must stay a hole, others present; data ranges: $ranges" ;;
esac
log "ok: damaged chunk named ($(head -c 200 "$WORK/bad.err")), left a hole"

# damaged cache data is detected and fetched again
cache=$WORK/cache-lz4
f=$cache/$IMG_BLOB_ID
printf 'garbage' | dd of="$f" bs=1 seek=70000 conv=notrunc status=none
"$LADING_PREPARE" --json --seed-from "$IMG_OUT" "$IMG_BOOT" "$cache" \
	>"$WORK/seed3.json" 2>"$WORK/seed3.err" || fail "repairing seed"
cmp "$view" "$f" || fail "cache file not repaired"
grep -q "refetching" "$WORK/seed3.err" || fail "repair not reported"

# a full disk: exit 1, and every present range is a verified chunk
mkdir -p "$WORK/small"
mount -t tmpfs -o size=192k tmpfs "$WORK/small" || fail "cannot mount tmpfs"
rc=0
"$LADING_PREPARE" --seed-from "$IMG_OUT" "$IMG_BOOT" "$WORK/small/c" \
	>/dev/null 2>"$WORK/full.err" || rc=$?
ranges=$(present_ranges "$WORK/small/c/$IMG_BLOB_ID" 2>/dev/null || true)
if [ $rc = 1 ]; then
	grep -qi "space" "$WORK/full.err" || fail "no 'space' in: $(cat "$WORK/full.err")"
	python3 - "$view" "$WORK/small/c/$IMG_BLOB_ID" "$ranges" <<'PY' || fail "unverified bytes in the cache after ENOSPC"
import sys
view = open(sys.argv[1], "rb").read()
cache = open(sys.argv[2], "rb").read()
for r in sys.argv[3].split():
    a, b = map(int, r.split("-"))
    assert cache[a:b] == view[a:b], r
PY
	log "ok: ENOSPC: exit 1, present ranges ($ranges) all verified"
else
	fail "seeding into a 192 KiB tmpfs: exit $rc"
fi
umount "$WORK/small"

# the cachefiles layout: kernel names and xattrs (names pinned by unit tests)
"$LADING_PREPARE" -q --layout cachefiles --fsid img1 --domain-id dom \
	--seed-from "$IMG_OUT" "$IMG_BOOT" "$WORK/cf" || fail "cachefiles layout"
vol="$WORK/cf/cache/Ierofs,dom"
[ -d "$WORK/cf/graveyard" ] || fail "no graveyard"
[ "$(getfattr --only-values -e hex -n user.CacheFiles.cache "$vol" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 00000000 ] ||
	fail "volume xattr wrong"
obj=$(ls "$vol"/@*/D"$IMG_BLOB_ID")
boot_obj=$(ls "$vol"/@*/Dimg1)
cmp "$view" "$obj" || fail "cachefiles blob object content"
cmp "$IMG_BOOT" "$boot_obj" || fail "cachefiles bootstrap object content"
want=$(printf '%016x' "$view_size")0000000000000000"0100"
got=$(getfattr --only-values -n user.CacheFiles.cache "$obj" | od -An -tx1 | tr -d ' \n')
[ "$got" = "$want" ] || fail "object xattr $got, want $want"

# bad input: a bootstrap that does not verify, a missing blob
python3 -c "import sys;f=open(sys.argv[1],'r+b');f.seek(1100);b=f.read(1);f.seek(1100);f.write(bytes([b[0]^1]))" "$IMG_BOOT"
rc=0
"$LADING_PREPARE" "$IMG_BOOT" "$WORK/c2" 2>"$WORK/b.err" || rc=$?
[ $rc = 1 ] && grep -q "does not verify" "$WORK/b.err" || fail "corrupt bootstrap: exit $rc: $(cat "$WORK/b.err")"
build_image "$WORK/src" --compress deflate
rc=0
"$LADING_PREPARE" --seed-from "$WORK/nonexistent" "$IMG_BOOT" "$WORK/c3" 2>"$WORK/m.err" || rc=$?
[ $rc = 1 ] && grep -q "not found" "$WORK/m.err" || fail "missing blob: exit $rc: $(cat "$WORK/m.err")"
