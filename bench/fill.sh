#!/bin/bash
# On-demand fill benchmark (fanotify back end, local blob directory): read
# a whole root filesystem image through `lading-fill mount` with an empty
# cache (cold), then again with the cache the first run filled (warm), and
# compare with a plain sequential read of the blob files (the ceiling).
# A third case adds --prefetch: the rest is filled behind the reads; a
# fourth is cold with the filler's readahead off (--readahead 0).
# Page caches are dropped before each read; best of 2 runs
# (LADING_BENCH_RUNS).  Prints wall time, throughput
# of the tar read, and the filler's request latency p50/p99 (all kernel
# requests, and those that waited for a fetch).
#   bench/fill.sh [SOURCE_DIR] [MKIMAGE_OPTS...]
#   (default: the rootfs of bench/make-rootfs.sh, --compress zstd)
# LADING_BENCH_COLD_OPTS adds filler options to the cold case (e.g.
# "--readahead 1M").  LADING_BENCH_SOURCE=registry serves the blob from a docker-registry on
# 127.0.0.1 (pushed with skopeo) instead of the blob directory.
# Needs root and a kernel with fanotify pre-content events.  Not a test:
# no assertions on time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
build=${LADING_BUILD:-$here/../build}
mkimage=$build/mkimage/lading-mkimage
fill=$build/fill/lading-fill
treecmp=$build/tests/tools/lading-treecmp
src=${1:-${LADING_BENCH_DIR:-/var/tmp/lading-bench}/rootfs}
shift || true
opts=("$@")
[ ${#opts[@]} -gt 0 ] || opts=(--compress zstd)
[ -d "$src" ] || { echo "no source tree $src (run bench/make-rootfs.sh)" >&2; exit 1; }
for t in "$mkimage" "$fill"; do [ -x "$t" ] || { echo "build first: $t" >&2; exit 1; }; done

work=$(mktemp -d "${TMPDIR:-/var/tmp}/lading-fill.XXXXXX")
cleanup() {
	[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "${reg:-}" ] && kill "$reg" 2>/dev/null
	umount "$work/mnt" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/blobs" "$work/mnt"
"$mkimage" -q --no-progress "${opts[@]}" -b "$work/blobs" "$work/boot" "$src"
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

source_opts=(--source "$work/blobs")
if [ "${LADING_BENCH_SOURCE:-}" = registry ]; then
	start_registry "$work"
	# a one-layer OCI image around the blob(s), pushed with skopeo
	mkdir -p "$work/layout/blobs/sha256"
	cp "$work"/blobs/* "$work/layout/blobs/sha256/"
	python3 - "$work/layout" <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]
bs = os.listdir(d + "/blobs/sha256")
def put(x):
    h = hashlib.sha256(x).hexdigest()
    open(f"{d}/blobs/sha256/{h}", "wb").write(x)
    return "sha256:" + h, len(x)
cd, cs = put(json.dumps({"architecture": "amd64", "os": "linux", "rootfs":
         {"type": "layers", "diff_ids": ["sha256:" + b for b in bs]}}).encode())
md, ms = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
    "layers": [{"mediaType": "application/vnd.lading.blob.v1", "digest": "sha256:" + b,
                "size": os.path.getsize(f"{d}/blobs/sha256/{b}")} for b in bs]}).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "v1"}}]},
    open(f"{d}/index.json", "w"))
open(f"{d}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
	skopeo copy -q --dest-tls-verify=false oci:"$work/layout":v1 \
		"docker://127.0.0.1:$port/bench/fill:v1"
	source_opts=(--plain-http --source "docker://127.0.0.1:$port/bench/fill")
fi

# read_through NAME CACHE [FILL_OPTS...]: mount, time a full tar read,
# unmount; the filler's JSON statistics land in $work/NAME.json
read_through() {
	local name=$1 cache=$2; shift 2
	drop
	"$fill" mount --json "$@" "$work/boot" "$work/mnt" "${source_opts[@]}" \
		--cache "$cache" >"$work/$name.json" 2>"$work/$name.err" &
	pid=$!
	for _ in $(seq 1 200); do
		grep -q " $work/mnt " /proc/mounts && break
		kill -0 $pid 2>/dev/null || { cat "$work/$name.err" >&2; exit 1; }
		sleep 0.05
	done
	/usr/bin/time -f '%e' -o "$work/$name.t" \
		sh -c "tar -cf - -C '$work/mnt' . | wc -c >'$work/$name.bytes'"
	[ -z "${check:-}" ] || "$treecmp" "$src" "$work/mnt" >/dev/null ||
		{ echo "$name: mounted tree differs" >&2; exit 1; }
	kill -TERM $pid
	wait $pid
	pid=
}
stat_of() { python3 -c "import json;print(json.load(open('$work/$1.json'))['$2'])"; }

# best of $runs: this machine's timings wander between runs
runs=${LADING_BENCH_RUNS:-2}
best() { sort -n "$work/$1".t.* | head -1 >"$work/$1.t"; }
for r in $(seq 1 "$runs"); do
	rm -rf "$work/cache" "$work/cache2" "$work/cache3"
	# shellcheck disable=SC2086 # LADING_BENCH_COLD_OPTS: e.g. "--readahead 1M"
	read_through cold "$work/cache" ${LADING_BENCH_COLD_OPTS:-} &&
		mv "$work/cold.t" "$work/cold.t.$r"
	read_through cold_nora "$work/cache3" --readahead 0 &&
		mv "$work/cold_nora.t" "$work/cold_nora.t.$r"
	read_through warm "$work/cache" && mv "$work/warm.t" "$work/warm.t.$r"
	read_through prefetch "$work/cache2" --prefetch && mv "$work/prefetch.t" "$work/prefetch.t.$r"
	drop
	/usr/bin/time -f '%e' -o "$work/seq.t.$r" sh -c "cat '$work'/blobs/* >/dev/null"
done
for c in cold cold_nora warm prefetch seq; do best $c; done

blob_bytes=$(du -cb "$work"/blobs/* | tail -1 | cut -f1)
tar_bytes=$(cat "$work/cold.bytes")
printf 'image: %s (%s), %d MiB read by tar, blob %d MiB\n' "$src" "${opts[*]}" \
	$((tar_bytes >> 20)) $((blob_bytes >> 20))
printf '%-30s %7s %8s %9s %8s %8s %8s %9s %9s\n' case wall_s MiB/s requests fetches \
	p50_us p99_us miss_p50 miss_p99
for c in cold cold_nora prefetch warm; do
	printf '%-30s %7s %8.1f %9s %8s %8s %8s %9s %9s\n' "$c (tar through mount)" "$(cat "$work/$c.t")" \
		"$(python3 -c "print($tar_bytes / 1048576 / max($(cat "$work/$c.t"), 0.001))")" \
		"$(stat_of $c requests)" "$(stat_of $c fetches)" \
		"$(stat_of $c latency_p50_us)" "$(stat_of $c latency_p99_us)" \
		"$(stat_of $c miss_latency_p50_us)" "$(stat_of $c miss_latency_p99_us)"
done
printf '%-30s %7s %8.1f\n' "blob files (cat)" "$(cat "$work/seq.t")" \
	"$(python3 -c "print($blob_bytes / 1048576 / max($(cat "$work/seq.t"), 0.001))")"
printf 'cold/warm throughput: %.2fx; with --prefetch %.2fx; fetched %s chunks, %d MiB\n' \
	"$(python3 -c "print($(cat "$work/warm.t") / max($(cat "$work/cold.t"), 0.001))")" \
	"$(python3 -c "print($(cat "$work/warm.t") / max($(cat "$work/prefetch.t"), 0.001))")" \
	"$(stat_of cold chunks_fetched)" $(( $(stat_of cold bytes_fetched) >> 20 ))
