#!/bin/bash
# A 5 GiB sparse file (a little data in the middle and at the end), a
# zero-filled file and one whose last chunk is zeros: all-zero chunks must become holes, so the blob stays
# small, and the mount must read back zeros and the data. (No fsck extract:
# it would write 5 GiB.)
. "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/src"
truncate -s 5G "$WORK/src/sparse5g"
printf 'middle of nowhere' | dd of="$WORK/src/sparse5g" bs=1 seek=$((2560 * 1024 * 1024 + 12345)) conv=notrunc status=none
printf 'the end' | dd of="$WORK/src/sparse5g" bs=1 seek=$((5 * 1024 * 1024 * 1024 - 7)) conv=notrunc status=none
head -c $((3 * 1024 * 1024)) /dev/zero >"$WORK/src/zeros3m"
# data, then a last chunk of zeros: the file still ends where it did
head -c $((1024 * 1024)) /dev/urandom >"$WORK/src/tailhole"
head -c 4097 /dev/zero >>"$WORK/src/tailhole"
set_mtimes "$WORK/src"

start=$SECONDS
build_image "$WORK/src"
log "built in $((SECONDS - start)) s"
size=$(stat -c %s "$IMG_BLOB")
[ "$size" -lt $((8 * 1024 * 1024)) ] ||
	fail "blob is $size bytes for ~24 bytes of data: zero chunks not turned into holes"
start=$SECONDS
mount_and_compare "$WORK/src"
log "compared in $((SECONDS - start)) s"
