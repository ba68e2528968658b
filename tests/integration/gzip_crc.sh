#!/bin/bash
# A gzip layer whose corruption only the gzip trailer's CRC-32 reveals:
# random (incompressible) data is stored in "stored" deflate blocks, so
# overwriting bytes inside them still inflates cleanly, to wrong bytes.
# gzip -t and GNU tar reject it; lading-mkimage must too (exit 1, nothing
# left behind) rather than bake the wrong bytes into an image.
# (libarchive, which bsdtar also uses, does not check the trailer.)
NEEDS_MOUNT=0
. "$(dirname "$0")/lib.sh"
require_cmd tar gzip

T=$WORK/in
mkdir -p "$T/src"
random_file "$T/src/bigfile" 300000
tar --format=posix -C "$T/src" -cf "$T/good.tar" bigfile
gzip -c "$T/good.tar" >"$T/crc.tgz"
printf 'garbage garbage garbage garbage' |
	dd of="$T/crc.tgz" bs=1 seek=150000 conv=notrunc status=none
gzip -t "$T/crc.tgz" 2>/dev/null && fail "fixture: crc.tgz passes gzip -t"
expect_mkimage_failure "" "$T/crc.tgz"
STDIN_FILE=$T/crc.tgz expect_mkimage_failure "" -
