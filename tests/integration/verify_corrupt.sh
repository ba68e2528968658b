#!/bin/bash
# lading-verify finds every kind of damage and says where: a flipped byte in
# the blob (digest, naming the blob), in a chunk's data (a difference from
# the source, naming the file), in the superblock (CRC), in an inode, a
# dirent and a chunk index (structural errors, not crashes), truncated
# bootstrap and blob. Exit 1 for all of them, 2 for a missing bootstrap.
NEEDS_MOUNT=0
. "$(dirname "$0")/lib.sh"
require_cmd python3
[ -n "${LADING_VERIFY:-}" ] || fail "LADING_VERIFY not set"
POKE="python3 $(dirname "$0")/erofs_poke.py"

mkdir -p "$WORK/src/sub"
random_file "$WORK/src/data.bin" 300000
echo small >"$WORK/src/sub/small"
ln -s data.bin "$WORK/src/link"
build_image "$WORK/src" -C 64K
good_boot=$IMG_BOOT good_blob=$IMG_BLOB

# expect_verify RC PATTERN BOOT [opts...]: exit RC, PATTERN in the output
expect_verify() {
	local want=$1 pat=$2 rc=0; shift 2
	next_seq
	"$LADING_VERIFY" -b "$CASE" "$@" >"$WORK/v.$_seq.out" 2>&1 || rc=$?
	if [ "$rc" != "$want" ] || ! grep -q -- "$pat" "$WORK/v.$_seq.out"; then
		cat "$WORK/v.$_seq.out" >&2
		fail "lading-verify $*: exit $rc (want $want), output should match '$pat'"
	fi
	log "ok: exit $rc, '$(grep -m1 -- "$pat" "$WORK/v.$_seq.out")'"
}

# fresh_case: a writable copy of the good image in $CASE
fresh_case() {
	next_seq
	CASE=$WORK/case.$_seq
	mkdir -p "$CASE"
	cp "$good_boot" "$CASE/boot.img"
	cp "$good_blob" "$CASE/"
	BLOB=$CASE/$(basename "$good_blob")
}

fresh_case
expect_verify 0 "blob .*: ok" "$CASE/boot.img" --source "$WORK/src"

fresh_case	# a byte of the blob: the digest names the blob
flip_bytes "$BLOB" 100
expect_verify 1 "blob $(basename "$BLOB"): content digest" "$CASE/boot.img"

fresh_case	# a byte inside data.bin's first chunk: the source comparison
off=$($POKE "$CASE/boot.img" data-offset data.bin)
flip_bytes "$BLOB" $((off + 5000)) 2
expect_verify 1 "/data.bin: content differs in bytes 0\.\." "$CASE/boot.img" \
	--no-blob-digest --source "$WORK/src"

fresh_case
$POKE "$CASE/boot.img" sb-byte
expect_verify 1 "superblock checksum mismatch" "$CASE/boot.img"

fresh_case
$POKE "$CASE/boot.img" inode-format
expect_verify 1 "unknown i_format bits" "$CASE/boot.img"

fresh_case
$POKE "$CASE/boot.img" dirent-nameoff
expect_verify 1 "bad first nameoff" "$CASE/boot.img"

fresh_case
$POKE "$CASE/boot.img" dirent-order
expect_verify 1 "not strictly sorted" "$CASE/boot.img"

fresh_case
$POKE "$CASE/boot.img" chunk-device data.bin
expect_verify 1 "names device 5" "$CASE/boot.img"

fresh_case
$POKE "$CASE/boot.img" chunk-addr data.bin
expect_verify 1 "beyond the" "$CASE/boot.img"

fresh_case	# truncated bootstrap
truncate -s 4096 "$CASE/boot.img"
expect_verify 1 "image truncated" "$CASE/boot.img"

fresh_case	# truncated blob: size check, and the data cannot be read
truncate -s 8192 "$BLOB"
expect_verify 1 "bytes, the bootstrap says" "$CASE/boot.img" --source "$WORK/src"

fresh_case	# missing blob
rm "$BLOB"
expect_verify 1 "not found" "$CASE/boot.img"

fresh_case	# a source that differs
cp -a "$WORK/src" "$WORK/src2"
echo changed >"$WORK/src2/sub/small"
touch -d @0 "$WORK/src2/sub/small"
echo extra >"$WORK/src2/new"
expect_verify 1 "/sub/small: size" "$CASE/boot.img" --source "$WORK/src2"
grep -q "/new: missing from the image" "$WORK/v.$_seq.out" || fail "extra source file not reported"

fresh_case
expect_verify 2 "No such file" "$CASE/nonexistent.img"

# compressed blobs: a damaged chunk is named by blob id and chunk index,
# and a damaged ToC by the blob
for codec in lz4 deflate lzma zstd; do
	if ! "$LADING_MKIMAGE" --help | grep -c "$codec" >/dev/null; then
		log "codec $codec not built in: skipped"
		continue
	fi
	rm -rf "$WORK/c" && mkdir -p "$WORK/c/src"
	seq 1 200000 >"$WORK/c/src/text"		# compressible, 4 chunks of 64K+
	build_image "$WORK/c/src" -C 64K --compress "$codec"
	good_boot=$IMG_BOOT good_blob=$IMG_BLOB
	fresh_case
	expect_verify 0 "blob .*: ok" "$CASE/boot.img" --source "$WORK/c/src"
	fresh_case
	flip_bytes "$BLOB" 40 3
	expect_verify 1 "blob $(basename "$BLOB"): chunk 0 (uncompressed bytes 0+65536" \
		"$CASE/boot.img"
	fresh_case	# the ToC sits just before the 64-byte footer
	size=$(stat -c %s "$BLOB")
	flip_bytes "$BLOB" $((size - 64 - 10))
	expect_verify 1 "ToC digest differs" "$CASE/boot.img" --no-blob-digest
done
