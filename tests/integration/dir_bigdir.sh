#!/bin/bash
# A directory with 10 000 entries (names of varied length, some subdirs),
# spanning many directory blocks, next to a small one.
. "$(dirname "$0")/lib.sh"

make_bigdir "$WORK/src/big" 10000
mkdir -p "$WORK/src/small"
printf 'x\n' >"$WORK/src/small/f"
set_mtimes "$WORK/src"

build_image "$WORK/src"
mount_and_compare "$WORK/src"
fsck_extract_check "$WORK/src"
