#!/bin/bash
# Check that two lading-mkimage binaries write byte-identical bootstraps
# and blobs for the same input and options: run before and after a change
# that should not alter the output (e.g. a speed-up).
#
# usage: bench/compare-output.sh OLD NEW [SOURCE...]
#
# Without SOURCE, a small generated tree (and a tar of it) is used: files
# of many sizes around the chunk and inline limits, duplicate chunks,
# sparse and all-zero files, symlinks, hard links.  Every source is built
# with the default options, -C 64K, and each available --compress codec.
# Exits 0 if every pair is identical, 1 otherwise.
set -euo pipefail

old=${1:?usage: $0 OLD NEW [SOURCE...]} new=${2:?usage: $0 OLD NEW [SOURCE...]}
shift 2
work=$(mktemp -d "${TMPDIR:-/var/tmp}/lading-compare.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ $# = 0 ]; then
	t=$work/tree
	mkdir -p "$t/d/e" "$t/big"
	python3 - "$t" <<'PY'
import os, random, sys
t = sys.argv[1]
r = random.Random(14)
for i, n in enumerate([0, 1, 2047, 2048, 2049, 4095, 4096, 65535, 65536, 65537,
                       1 << 20, (1 << 20) + 1, 3 << 20, 5 * (1 << 20) + 12345]):
    with open(f"{t}/d/f{i}", "wb") as f:
        f.write(r.randbytes(n))
blk = r.randbytes(1 << 20)
with open(f"{t}/big/dup", "wb") as f:	# the same chunk four times, then a tail
    f.write(blk * 4 + blk[:1000])
with open(f"{t}/big/zeros", "wb") as f:
    f.write(bytes(3 << 20))
with open(f"{t}/big/sparse", "wb") as f:
    f.write(blk[:5000]); f.seek(9 << 20); f.write(blk[:7000])
for i in range(300):
    with open(f"{t}/d/e/s{i}", "wb") as f:
        f.write(r.randbytes(r.randrange(0, 9000)))
os.symlink("d/f3", f"{t}/link")
os.link(f"{t}/d/f5", f"{t}/d/e/hard")
PY
	touch -d @1700000000 "$t" "$t"/* "$t"/*/* "$t"/d/e/*
	tar -C "$t" --numeric-owner --sort=name -cf "$work/tree.tar" .
	set -- "$t" "$work/tree.tar"
fi

opts=("" "-C 64K")
for c in lz4 deflate zstd lzma; do
	if "$new" --compress "$c" --help >/dev/null 2>&1; then opts+=("--compress $c"); fi
done

bad=0 n=0
for src in "$@"; do
	for o in "${opts[@]}"; do
		for b in old new; do
			rm -rf "${work:?}/$b" && mkdir -p "$work/$b/blobs"
			bin=$old
			[ "$b" = new ] && bin=$new
			# shellcheck disable=SC2086
			SOURCE_DATE_EPOCH=1700000000 "$bin" -q $o -b "$work/$b/blobs" "$work/$b/boot" "$src" ||
				{ echo "FAIL: $bin $o $src: exit $?"; bad=1; continue 2; }
		done
		n=$((n + 1))
		if cmp -s "$work/old/boot" "$work/new/boot" &&
			diff -r "$work/old/blobs" "$work/new/blobs" >/dev/null; then
			echo "same: ${o:-defaults} ${src##*/} (blob $(ls "$work/new/blobs" | cut -c1-16)...)"
		else
			echo "DIFFER: ${o:-defaults} $src"
			bad=1
		fi
	done
done
[ "$bad" = 0 ] && echo "all $n builds identical" || echo "some builds differ"
exit "$bad"
