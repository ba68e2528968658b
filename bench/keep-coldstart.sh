#!/bin/bash
# Cold start from the original gzip layers (lading-convert --keep-layers)
# against the converted form (lading blobs), both served lazily by
# lading-fill (fanotify) from a docker-registry on 127.0.0.1.  The image is
# pushed as it is, converted both ways registry to registry, and for each
# form: page cache dropped, a fresh cache, `lading-fill mount REF`, the
# workload run in a chroot of the mount, the filler stopped.  Reported:
# wall time from the filler's start to the workload's end (best of
# LADING_BENCH_RUNS, default 3), bytes fetched from the registry (stored,
# i.e. compressed) and their uncompressed size, range requests.
#   bench/keep-coldstart.sh [OCI_LAYOUT:TAG] [-- WORKLOAD...]
#   (default: the image bench/coldstart.sh leaves in
#   /var/tmp/lading-bench/coldstart/img:v1, and
#   /usr/bin/python3 -c 'import json, email.parser, http.client, sqlite3')
# LADING_BENCH_CONVERT_OPTS: options of the converted form (default
# --compress zstd); LADING_BENCH_SPAN: --span-size of the kept form
# (default: lading-convert's).  Needs root, docker-registry, skopeo and a
# kernel with fanotify pre-content events.  Not a test: no assertions.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
build=${LADING_BUILD:-$here/../build}
convert=$build/convert/lading-convert
fill=$build/fill/lading-fill
img=${1:-${LADING_BENCH_DIR:-/var/tmp/lading-bench}/coldstart/img:v1}
shift || true
[ "${1:-}" = -- ] && shift
workload=("$@")
[ ${#workload[@]} -gt 0 ] ||
	workload=(/usr/bin/python3 -c 'import json, email.parser, http.client, sqlite3')
runs=${LADING_BENCH_RUNS:-3}
read -r -a conv_opts <<<"${LADING_BENCH_CONVERT_OPTS:---compress zstd}"
span_opts=()
[ -n "${LADING_BENCH_SPAN:-}" ] && span_opts=(--span-size "$LADING_BENCH_SPAN")
for t in "$convert" "$fill"; do [ -x "$t" ] || { echo "build first: $t" >&2; exit 1; }; done
[ -f "${img%:*}/index.json" ] || { echo "no OCI layout ${img%:*} (run bench/coldstart.sh)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/lading-keepcs.XXXXXX")
pid= reg=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	umount "$work/mnt" 2>/dev/null || true
	[ -n "$reg" ] && kill "$reg" 2>/dev/null && wait "$reg" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }

start_registry "$work"
R=127.0.0.1:$port/bench/app
skopeo copy -q --dest-tls-verify=false "oci:$img" "docker://$R:1.0"
t0=$(now)
"$convert" -q --plain-http "${conv_opts[@]}" "docker://$R:1.0" "docker://$R:converted"
t1=$(now)
"$convert" -q --plain-http --keep-layers "${span_opts[@]}" "docker://$R:1.0" "docker://$R:kept"
t2=$(now)
printf 'conversion: converted (%s) %.1f s, --keep-layers %.1f s\n' "${conv_opts[*]}" \
	"$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" >&2

mkdir -p "$work/mnt"
# one cold start of TAG: prints "wall stored_bytes bytes fetches"
cold() {
	local tag=$1 cache=$work/cache.$1 st
	rm -rf "$cache"
	drop
	st=$(now)
	"$fill" mount --backend fanotify --plain-http --json "docker://$R:$tag" "$work/mnt" \
		--cache "$cache" >"$work/$tag.json" 2>"$work/$tag.err" &
	pid=$!
	for _ in $(seq 1 600); do
		grep -q " $work/mnt " /proc/mounts && break
		kill -0 "$pid" 2>/dev/null || { cat "$work/$tag.err" >&2; exit 1; }
		sleep 0.01
	done
	chroot "$work/mnt" "${workload[@]}" >/dev/null
	local end
	end=$(now)
	kill -TERM "$pid"
	wait "$pid" || { cat "$work/$tag.err" >&2; exit 1; }
	pid=
	python3 - "$work/$tag.json" "$(echo "$end - $st" | bc)" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(sys.argv[2], s["stored_bytes_fetched"], s["bytes_fetched"], s["fetches"])
PY
}

declare -A best
for tag in converted kept; do
	for i in $(seq 1 "$runs"); do
		line=$(cold "$tag")
		echo "$tag run $i: wall s, stored bytes, bytes, fetches: $line" >&2
		w=${line%% *}
		if [ -z "${best[$tag]:-}" ] || [ "$(echo "$w < ${best[$tag]%% *}" | bc)" = 1 ]; then
			best[$tag]=$line
		fi
	done
done
read -r cw cs cb cf <<<"${best[converted]}"
read -r kw ks kb kf <<<"${best[kept]}"
printf '%-10s %9s %14s %14s %8s\n' form "wall s" "fetched" "uncompressed" requests
printf '%-10s %9.3f %14d %14d %8d\n' converted "$cw" "$cs" "$cb" "$cf"
printf '%-10s %9.3f %14d %14d %8d\n' kept "$kw" "$ks" "$kb" "$kf"
printf 'kept / converted: wall %.2fx, fetched %.2fx\n' "$(echo "$kw / $cw" | bc -l)" \
	"$(echo "$ks / $cs" | bc -l)"
