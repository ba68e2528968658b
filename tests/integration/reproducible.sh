#!/bin/bash
# Reproducibility: the same input and options give byte-identical bootstrap
# and blob, whatever the output dir, the source's location, inode numbers
# or readdir order. SOURCE_DATE_EPOCH and -T clamp mtimes (checked through
# the mount).
. "$(dirname "$0")/lib.sh"
require_cmd tar

src=$WORK/src
make_tree "$src"
make_bigdir "$src/big" 500
set_mtimes "$src"
epoch=1500000700
# same second as the clamp but later by 0.5 s: clamped too (with --nsec the
# nanoseconds must go)
printf 'edge\n' >"$src/big/edge"
touch -d "@$epoch.5" "$src/big/edge"
touch -d @1500000001 "$src/big"

same_output() {
	local what=$1 b1=$2 blob1=$3 b2=$4 blob2=$5
	cmp "$b1" "$b2" >&2 || fail "$what: bootstraps differ"
	[ "${blob1##*/}" = "${blob2##*/}" ] || fail "$what: blob ids differ: ${blob1##*/} vs ${blob2##*/}"
	[ -z "$blob1" ] || cmp "$blob1" "$blob2" >&2 || fail "$what: blobs differ"
	log "ok: $what: identical output"
}

build_twice() {
	local what=$1 src1=$2 src2=$3 b1 blob1; shift 3
	build_image "$src1" "$@"
	b1=$IMG_BOOT blob1=$IMG_BLOB
	sleep 1 # a build time or random salt would show up now
	build_image "$src2" "$@"
	same_output "$what" "$b1" "$blob1" "$IMG_BOOT" "$IMG_BLOB"
}

build_twice "default options" "$src" "$src"
mount_and_compare "$src"
build_twice "-C 64K -U -L --nsec" "$src" "$src" -C 64K --nsec \
	-U 01234567-89ab-cdef-0123-456789abcdef -L repro
mount_and_compare "$src" --nsec

# a copy elsewhere: new inode numbers, other readdir order, same content
cp -a "$src" "$WORK/copy"
build_twice "copied source" "$src" "$WORK/copy"

# tar input, by path and via stdin
tar --numeric-owner --xattrs --xattrs-include='*' --acls --format=posix -C "$src" -cf "$WORK/src.tar" .
build_image "$WORK/src.tar"
b1=$IMG_BOOT blob1=$IMG_BLOB
build_image - <"$WORK/src.tar"
same_output "tar by path and by stdin" "$b1" "$blob1" "$IMG_BOOT" "$IMG_BLOB"

# SOURCE_DATE_EPOCH clamps every mtime that is later than it (set_mtimes
# spreads them over 1500000000 + 7*n, the root at 1400000000)
cp -a "$src" "$WORK/expect"
clamp_mtimes "$WORK/expect" "$epoch"
n_clamped=$(find "$src" -newermt "@$epoch" | wc -l)
[ "$n_clamped" -gt 10 ] || fail "fixture: only $n_clamped entries newer than $epoch"
SOURCE_DATE_EPOCH=$epoch build_image "$src"
mount_and_compare "$WORK/expect"
SOURCE_DATE_EPOCH=$epoch build_image "$src" --nsec
mount_and_compare "$WORK/expect" --nsec
# -T does the same and wins over the environment
SOURCE_DATE_EPOCH=1 build_image "$src" -T "$epoch"
mount_and_compare "$WORK/expect"
build_image "$src" --mtime "$epoch"
b1=$IMG_BOOT blob1=$IMG_BLOB
mount_and_compare "$WORK/expect"
SOURCE_DATE_EPOCH=$epoch build_image "$src"
same_output "-T vs SOURCE_DATE_EPOCH" "$b1" "$blob1" "$IMG_BOOT" "$IMG_BLOB"
