#!/bin/bash
# Duplicate files and duplicate chunks are stored once: the blob must be
# smaller than the sum of the file sizes (and close to the unique data).
. "$(dirname "$0")/lib.sh"

mib=$((1024 * 1024))
mkdir -p "$WORK/src/d1" "$WORK/src/d2"
random_file "$WORK/src/orig" $((2 * mib))
for i in 1 2 3; do cp "$WORK/src/orig" "$WORK/src/d1/copy$i"; done
cp "$WORK/src/orig" "$WORK/src/d2/copy4"
# a file made of the same 1 MiB chunk repeated
head -c $mib "$WORK/src/orig" >"$WORK/src/chunk"
cat "$WORK/src/chunk" "$WORK/src/chunk" "$WORK/src/chunk" >"$WORK/src/d2/triple"
set_mtimes "$WORK/src"

total=$(find "$WORK/src" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
build_image "$WORK/src"
size=$(stat -c %s "$IMG_BLOB")
log "blob $size bytes for $total bytes of files (unique data $((2 * mib)))"
[ "$size" -lt "$total" ] || fail "no dedup: blob $size >= sum of file sizes $total"
[ "$size" -lt $((3 * mib)) ] || fail "weak dedup: blob $size bytes for 2 MiB of unique data"
mount_and_compare "$WORK/src"
fsck_extract_check "$WORK/src"

# with 64 KiB chunks the same holds
build_image "$WORK/src" -C 64K
size=$(stat -c %s "$IMG_BLOB")
[ "$size" -lt $((3 * mib)) ] || fail "-C 64K: blob $size bytes for 2 MiB of unique data"
mount_and_compare "$WORK/src"
