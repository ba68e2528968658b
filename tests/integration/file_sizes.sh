#!/bin/bash
# Regular file sizes around block and chunk boundaries, with 64 KiB chunks
# and the default 1 MiB chunks, and with inline storage of small files.
. "$(dirname "$0")/lib.sh"

make_sizes() {
	local d=$1 chunk=$2 s
	mkdir -p "$d"
	for s in 0 1 4095 4096 4097 $((chunk - 1)) $chunk $((chunk + 1)) \
		$((2 * chunk + 4095)) $((3 * chunk)); do
		random_file "$d/size-$s" "$s"
		# a last byte of zero would make the one-byte last chunk a hole,
		# which fsck.erofs 1.5 drops from the file's end (a 1-in-256
		# flake); sparse.sh covers trailing holes through the kernel
		[ "$s" = 0 ] || printf '\377' |
			dd of="$d/size-$s" bs=1 seek=$((s - 1)) conv=notrunc status=none
	done
	set_mtimes "$d"
}

make_sizes "$WORK/src64k" 65536
build_image "$WORK/src64k" -C 64K
mount_and_compare "$WORK/src64k"
fsck_extract_check "$WORK/src64k"
build_image "$WORK/src64k" --chunk-size 65536
mount_and_compare "$WORK/src64k"

make_sizes "$WORK/src1m" $((1024 * 1024))
build_image "$WORK/src1m"
mount_and_compare "$WORK/src1m"
fsck_extract_check "$WORK/src1m"
build_image "$WORK/src1m" -C 4096
mount_and_compare "$WORK/src1m"

# inline storage: every size, from nothing inline to the whole block
for inl in 0 100 2048 3072; do
	build_image "$WORK/src64k" -C 64K --inline-max "$inl"
	mount_and_compare "$WORK/src64k"
done

# a tree whose files all fit inline: no blob is needed, and none may be made
mkdir -p "$WORK/tiny"
printf 'a' >"$WORK/tiny/a"
printf '%0100d' 0 >"$WORK/tiny/b"
: >"$WORK/tiny/empty"
set_mtimes "$WORK/tiny"
build_image "$WORK/tiny" --inline-max 3072
[ -z "$IMG_BLOB_ID" ] || fail "all data inline (--inline-max 3072) but a blob was written: $IMG_BLOB_ID"
mount_and_compare "$WORK/tiny"

# no regular-file data at all: no blob
mkdir -p "$WORK/nodata/d"
: >"$WORK/nodata/empty"
ln -s empty "$WORK/nodata/l"
set_mtimes "$WORK/nodata"
build_image "$WORK/nodata"
[ -z "$IMG_BLOB_ID" ] || fail "no file data but a blob was written: $IMG_BLOB_ID"
[ "$(json_get "$IMG_JSON" blob_id)" = "" ] || fail "blob_id not null"
mount_and_compare "$WORK/nodata"
fsck_extract_check "$WORK/nodata"
