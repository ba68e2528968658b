#!/bin/bash
# Tar sources: the same tree packed by GNU tar (posix with xattrs+ACLs, gnu),
# and by bsdtar; compressed with gzip, xz, zstd, bzip2 (detected by content:
# the files carry no suffix); fed by path and via stdin ('-'); sparse files
# in GNU tar's gnu format and PAX sparse 0.1/1.0. Each mount is compared with
# the tree the tar was made from (--numeric-owner keeps uid/gid).
. "$(dirname "$0")/lib.sh"
require_cmd tar bsdtar gzip xz zstd bzip2

src=$WORK/src
make_tree "$src" tar
T=$WORK/tars
mkdir -p "$T"

gtar() { tar --numeric-owner -C "$src" "$@"; }
gtar --xattrs --xattrs-include='*' --acls --format=posix -cf "$T/posix" .
gtar --format=gnu -cf "$T/gnu" .
bsdtar --xattrs --acls --numeric-owner -C "$src" -cf "$T/bsd" .
bsdtar --xattrs --acls --numeric-owner --format=pax -C "$src" -cf "$T/bsdpax" .

build_image "$T/posix"
mount_and_compare "$src"
fsck_extract_check "$src"
build_image "$T/bsd"
mount_and_compare "$src"
build_image "$T/bsdpax"
mount_and_compare "$src"
# the gnu format carries no xattrs or ACLs
build_image "$T/gnu"
mount_and_compare "$src" --no-xattrs
# nanoseconds from PAX headers
build_image "$T/posix" --nsec
mount_and_compare "$src" --nsec

for z in gzip xz zstd bzip2; do
	"$z" -c "$T/posix" >"$T/posix-$z"
	build_image "$T/posix-$z"
	mount_and_compare "$src"
	build_image - <"$T/posix-$z"
	mount_and_compare "$src"
done
"bzip2" -c "$T/bsd" >"$T/bsd-bz"
build_image - <"$T/bsd-bz"
mount_and_compare "$src"
build_image - <"$T/gnu"
mount_and_compare "$src" --no-xattrs
# (not "gzip -c | build_image -": a pipeline would run build_image in a subshell)
gzip -c "$T/gnu" >"$T/gnu-gz"
build_image - -C 64K <"$T/gnu-gz"
mount_and_compare "$src" --no-xattrs

# sparse files
sp=$WORK/sparse
mkdir -p "$sp"
truncate -s 64M "$sp/islands"
printf 'one' | dd of="$sp/islands" bs=1 seek=$((1024 * 1024)) conv=notrunc status=none
printf 'two' | dd of="$sp/islands" bs=1 seek=$((40 * 1024 * 1024 + 3)) conv=notrunc status=none
truncate -s 10M "$sp/allhole"
random_file "$sp/dense" 100000
truncate -s 300000 "$sp/dense"
set_mtimes "$sp"
tar --numeric-owner -C "$sp" --format=gnu --sparse -cf "$T/sparse-gnu" .
tar --numeric-owner -C "$sp" --format=posix --sparse --sparse-version=0.1 -cf "$T/sparse-pax01" .
tar --numeric-owner -C "$sp" --format=posix --sparse --sparse-version=1.0 -cf "$T/sparse-pax10" .
bsdtar --numeric-owner --read-sparse -C "$sp" -cf "$T/sparse-bsd" . 2>/dev/null ||
	bsdtar --numeric-owner -C "$sp" -cf "$T/sparse-bsd" .
for t in sparse-gnu sparse-pax01 sparse-pax10 sparse-bsd; do
	build_image "$T/$t"
	size=$(stat -c %s "$IMG_BLOB")
	[ "$size" -lt $((8 * 1024 * 1024)) ] || fail "$t: blob is $size bytes: zero chunks not holes"
	mount_and_compare "$sp"
done
# (no fsck extract here: fsck.erofs 1.5 mishandles hole chunks, its
# extracted sparse files come out truncated)
