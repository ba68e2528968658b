#!/usr/bin/env bash
# Builds the seed corpus for the reader fuzz target: a few small, real
# bootstraps made by lading-mkimage (and, when installed, mkfs.erofs) from
# generated trees.  Only the bootstraps are kept; blobs are thrown away.
#
#   make-seeds.sh [--blobs BLOBDIR] OUTDIR [LADING_MKIMAGE]
#
# --blobs keeps the blobs (named by their sha256) in BLOBDIR, for tools that
# check a bootstrap against its blobs (lading-verify).
# The mkimage binary is the second argument or $LADING_MKIMAGE.  Writes
# OUTDIR/seed-*.img and prints their names.  Exit 0 ok, 1 failure, 77 when
# no mkimage binary is available.
#
# Trees cover: nested dirs, a 300-entry (multi-block) dir, short and
# 3000-byte symlinks, user./trusted./security. xattrs and a POSIX ACL,
# hardlinks, char/block devices, a fifo and a socket, inline small files,
# chunked files with holes, uid/gid > 65535 and nanosecond mtimes (extended
# inodes), several chunk sizes and --inline-max values.
set -euo pipefail
umask 022
unset SOURCE_DATE_EPOCH

blobs=
if [[ ${1:-} == --blobs ]]; then
	blobs=${2:?--blobs needs a directory}
	shift 2
	mkdir -p "$blobs"
fi
out=${1:?usage: make-seeds.sh [--blobs BLOBDIR] OUTDIR [LADING_MKIMAGE]}
mkimage=${2:-${LADING_MKIMAGE:-}}
if [[ -z $mkimage || ! -x $mkimage ]]; then
	echo "make-seeds: SKIP: lading-mkimage not found (${mkimage:-unset})" >&2
	exit 77
fi
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/lading-seeds.XXXXXX")
trap 'rm -rf "$work"' EXIT

T0=1700000000
stamp() { touch -h -d "@$1" "${@:2}"; }

# Sets xattrs when the file system takes them (trusted. needs root).
xattr() {
	command -v setfattr >/dev/null || return 0
	setfattr -h -n "$2" -v "$3" "$1" 2>/dev/null || true
}

# Every kind of inode lading writes, small enough to keep seeds tiny.
make_tree() {
	local t=$1 i
	mkdir -p "$t/a/b/c/d/e" "$t/empty" "$t/x"
	printf 'hello\n' >"$t/small"
	head -c 2000 /dev/zero | tr '\0' 'i' >"$t/a/inline2000"
	head -c 3072 /dev/zero | tr '\0' 'j' >"$t/a/b/inline3072"
	: >"$t/a/b/c/zero-length"
	printf 'deep\n' >"$t/a/b/c/d/e/leaf"
	# chunked files: data, a hole, data again, a trailing hole
	head -c 20000 /dev/urandom >"$t/x/chunked"
	truncate -s 300000 "$t/x/chunked"
	printf 'tail' | dd of="$t/x/chunked" bs=1 seek=200000 conv=notrunc status=none
	truncate -s 1M "$t/x/sparse-only"
	head -c 70000 /dev/urandom >"$t/x/medium"
	cp "$t/x/medium" "$t/x/medium-dup"	# dedup: same chunks twice
	ln "$t/small" "$t/a/hardlink-1"
	ln "$t/small" "$t/a/b/hardlink-2"
	ln -s small "$t/link-short"
	ln -s "$(head -c 3000 /dev/zero | tr '\0' 'L')" "$t/link-3000"
	ln -s ../../nowhere "$t/a/b/dangling"
	mkfifo "$t/fifo"
	if mknod "$t/chr" c 1 3 2>/dev/null; then
		mknod "$t/blk" b 7 200
		mknod "$t/chr-big" c 4095 1048575 2>/dev/null || true
	fi
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
		"$t/sock" 2>/dev/null || true
	xattr "$t/small" user.comment "a user xattr"
	xattr "$t/small" trusted.overlay.opaque y
	xattr "$t/small" security.selinux "system_u:object_r:etc_t:s0"
	xattr "$t/a" user.dir-attr "$(head -c 200 /dev/zero | tr '\0' 'v')"
	xattr "$t/link-short" trusted.link lnk
	xattr "$t/x/chunked" user.big "$(head -c 1500 /dev/zero | tr '\0' 'b')"
	for i in 1 2 3 4 5 6; do xattr "$t/x/medium" "user.k$i" "v$i"; done
	if command -v setfacl >/dev/null; then
		setfacl -m u:1234:rx "$t/a/b" 2>/dev/null || true
		setfacl -d -m g:55:r "$t/a/b" 2>/dev/null || true
	fi
	chown -h 70000:80000 "$t/a/b/c/zero-length" "$t/link-short" 2>/dev/null || true
	chown 100000:100000 "$t/x/medium" 2>/dev/null || true
	chmod 4755 "$t/a/inline2000"
	chmod 1777 "$t/x"
	find "$t" -depth -exec touch -h -d "@$T0" {} +
	stamp $((T0 + 12345)) "$t/a/b/inline3072"
	touch -h -d "@$T0.123456789" "$t/a/b/c/d/e/leaf"
}

make_bigdir() {
	local t=$1 i
	mkdir -p "$t/big"
	for ((i = 0; i < 300; i++)); do
		printf -v name 'entry-with-a-fairly-long-name-%04d' "$i"
		if ((i % 50 == 0)); then
			mkdir "$t/big/$name"
		elif ((i % 7 == 0)); then
			ln -s "target-$i" "$t/big/$name"
		else
			printf '%d\n' "$i" >"$t/big/$name"
		fi
	done
	find "$t" -depth -exec touch -h -d "@$T0" {} +
}

n=0
seed() {	# seed NAME SOURCE [mkimage options...]
	local name=$1 src=$2
	shift 2
	mkdir -p "$work/out-$name"
	"$mkimage" -q "$@" "$work/out-$name/bootstrap" "$src" >/dev/null
	cp "$work/out-$name/bootstrap" "$out/seed-$name.img"
	if [[ -n $blobs ]]; then
		find "$work/out-$name" -type f ! -name bootstrap -exec cp {} "$blobs/" \;
	fi
	echo "$out/seed-$name.img"
	n=$((n + 1))
}

make_tree "$work/tree"
make_bigdir "$work/bigdir"
mkdir "$work/minimal"
touch -d "@$T0" "$work/minimal"

seed minimal "$work/minimal"
seed tree "$work/tree" -C 4096
seed tree-64k-noinline "$work/tree" -C 65536 --inline-max 0
seed tree-nsec "$work/tree" -C 16384 --nsec --inline-max 3072
seed tree-ids "$work/tree" --uid 70000 --gid 4000000000
seed bigdir "$work/bigdir" --inline-max 0
tar -C "$work/tree" --format=posix -cf "$work/tree.tar" . 2>/dev/null || true
seed tree-tar "$work/tree.tar" -C 8192

# A second writer, to diversify the corpus (not what lading builds).  Its
# images hold file data, so it gets the tree without the big files.
mkfs_seed() {	# mkfs_seed NAME SOURCE [mkfs.erofs options...]
	local name=$1 src=$2
	shift 2
	if mkfs.erofs --quiet -T"$T0" -U 00000000-0000-0000-0000-00000000f022 \
		"$@" "$out/seed-$name.img" "$src" >/dev/null 2>&1; then
		echo "$out/seed-$name.img"
		n=$((n + 1))
	else
		rm -f "$out/seed-$name.img"
	fi
}
if command -v mkfs.erofs >/dev/null; then
	cp -a "$work/tree" "$work/tree-small"
	rm -rf "$work/tree-small/x"
	mkfs_seed mkfs-erofs "$work/tree-small"
	mkfs_seed mkfs-erofs-chunked "$work/tree-small" --chunksize=4096
	mkfs_seed mkfs-erofs-bigdir "$work/bigdir"
fi
echo "make-seeds: $n seeds in $out" >&2
