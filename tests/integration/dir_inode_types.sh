#!/bin/bash
# Directory source with every inode type and the metadata lading must keep:
# regular/dir/symlink/char/block/fifo/socket, hard-link groups (across
# directories, of empty files and fifos), setuid/setgid/sticky, uid/gid
# > 65535, user/trusted/security.capability xattrs (also on a dir and a
# symlink), POSIX ACLs (access + default), 255-byte names, empty files and
# dirs. Mounted and compared, then extracted with fsck.erofs and compared.
. "$(dirname "$0")/lib.sh"

make_tree "$WORK/src"

build_image "$WORK/src"
[ -n "$IMG_BLOB_ID" ] || fail "tree has file data but --json blob_id is null"
files=$(json_get "$IMG_JSON" files)
[ -n "$files" ] || fail "--json has no \"files\" key"
mount_and_compare "$WORK/src"
fsck_extract_check "$WORK/src"

# same tree, small chunks, blob dir elsewhere
mkdir -p "$WORK/blobs"
build_image "$WORK/src" -C 64K -b "$WORK/blobs"
[ "$(dirname "$IMG_BLOB")" = "$WORK/blobs" ] || fail "blob not in -b dir"
mount_and_compare "$WORK/src"
fsck_extract_check "$WORK/src"
