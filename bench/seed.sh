#!/bin/bash
# Seeding benchmark: lading-prepare --seed-from a local blob directory,
# against the raw limit for the same bytes: the codec's own CLI
# decompressing them (one stream) plus sha256 of the result.
#   bench/seed.sh [SOURCE_DIR]   (default: the rootfs of bench/make-rootfs.sh)
# Prints wall seconds and peak RSS per case and the ratio to the limit.
# Not a test: no assertions on time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${LADING_BUILD:-$here/../build}
mkimage=$build/mkimage/lading-mkimage
prepare=$build/prepare/lading-prepare
src=${1:-${LADING_BENCH_DIR:-/var/tmp/lading-bench}/rootfs}
[ -d "$src" ] || { echo "no source tree $src (run bench/make-rootfs.sh)" >&2; exit 1; }
for t in "$mkimage" "$prepare"; do [ -x "$t" ] || { echo "build first: $t" >&2; exit 1; }; done

work=$(mktemp -d "${TMPDIR:-/var/tmp}/lading-seed.XXXXXX")
trap 'rm -rf "$work"' EXIT

# measure NAME CMD...: wall seconds and peak RSS (KiB) into $work/NAME.t
measure() {
	local name=$1; shift
	/usr/bin/time -f '%e %M' -o "$work/$name.t" "$@" >/dev/null
}
wall() { cut -d' ' -f1 "$work/$1.t"; }
rss() { cut -d' ' -f2 "$work/$1.t"; }

# the uncompressed view, from a codec-none build
mkdir -p "$work/none"
"$mkimage" -q --no-progress --json -b "$work/none" "$work/none/boot" "$src" >"$work/none.json"
size=$(python3 -c "import json;print(json.load(open('$work/none.json'))['blob_uncompressed_size'])")
id=$(python3 -c "import json;print(json.load(open('$work/none.json'))['blob_id'])")
head -c "$size" "$work/none/$id" >"$work/view"
cat "$work/view" >/dev/null	# warm the page cache
measure sha256 openssl dgst -sha256 "$work/view"

printf '%-8s %12s %10s %10s %10s %8s %10s\n' codec blob_MiB seed_s limit_s "dec_s" ratio rss_MiB
for codec in lz4 zstd; do
	mkdir -p "$work/$codec"
	"$mkimage" -q --no-progress --compress "$codec" -b "$work/$codec" "$work/$codec/boot" "$src"
	"$codec" -q -c "$work/view" >"$work/view.$codec"
	cat "$work/$codec"/* >/dev/null
	measure "dec-$codec" "$codec" -q -dc "$work/view.$codec"
	rm -rf "$work/cache"
	measure "seed-$codec" "$prepare" -q --no-progress --seed-from "$work/$codec" \
		"$work/$codec/boot" "$work/cache"
	cmp -s "$work/view" "$work/cache/$(ls "$work/$codec" | grep -v boot)" ||
		{ echo "seeded view differs ($codec)" >&2; exit 1; }
	limit=$(python3 -c "print($(wall "dec-$codec") + $(wall sha256))")
	printf '%-8s %12.1f %10s %10.2f %10s %8.2f %10.1f\n' "$codec" \
		"$(python3 -c "import os;print(sum(os.path.getsize(os.path.join('$work/$codec',f)) for f in os.listdir('$work/$codec'))/1048576)")" \
		"$(wall "seed-$codec")" "$limit" "$(wall "dec-$codec")" \
		"$(python3 -c "print($(wall "seed-$codec") / $limit)")" \
		"$(python3 -c "print($(rss "seed-$codec") / 1024)")"
done
echo "view: $((size / 1048576)) MiB; sha256 of it: $(wall sha256) s"
