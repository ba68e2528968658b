#!/bin/bash
# mtimes outside the compact inode's range (before 1970, after 2106) need
# extended inodes; nanoseconds survive with --nsec.
. "$(dirname "$0")/lib.sh"

d=$WORK/src
mkdir -p "$d/dir-old" "$d/dir-new"
for f in old1960 epoch0 neg1 y2038 y2106 y2200 now ns; do printf '%s\n' "$f" >"$d/$f"; done
ln -s old1960 "$d/link-old"
ln -s y2200 "$d/link-new"
touch -h -d '1960-01-01 00:00:00 UTC' "$d/old1960" "$d/link-old"
touch -d @0 "$d/epoch0"
touch -d @-1 "$d/neg1"
touch -d @2147483648 "$d/y2038"
touch -d @4294967296 "$d/y2106"
touch -h -d '2200-06-01 12:00:00.5 UTC' "$d/y2200" "$d/link-new"
touch -d '2021-03-04 05:06:07.123456789 UTC' "$d/ns"
touch -d '1969-12-31 23:59:59.999999999 UTC' "$d/dir-old"
touch -d '2150-01-01 00:00:00.000000001 UTC' "$d/dir-new"
touch -d '2000-01-01 00:00:00 UTC' "$d"
# ext4 with small inodes cannot store these: check the fixture first
[ "$(stat -c %Y "$d/y2200")" -gt 4294967296 ] || skip "fixture fs cannot store mtimes after 2106"
[ "$(stat -c %Y "$d/old1960")" -lt 0 ] || skip "fixture fs cannot store mtimes before 1970"

build_image "$d"
mount_and_compare "$d"
fsck_extract_check "$d"

build_image "$d" --nsec
mount_and_compare "$d" --nsec

# without --nsec, nanoseconds are dropped (not rounded up into the next second)
build_image "$d"
mount_image
[ "$(stat -c %Y "$MNT/ns")" = "$(stat -c %Y "$d/ns")" ] || fail "seconds changed without --nsec"
unmount_image
