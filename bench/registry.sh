#!/bin/bash
# Registry range fetching: lading-prepare seeding a cache from a local
# docker-registry (1 MiB chunks fetched by range, adjacent chunks merged,
# every chunk verified and written) against curl fetching the whole blob to
# /dev/null.  usage: bench/registry.sh [MiB]   (default 256)
# Not a test: no assertions.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${LADING_BUILD:-$here/../build}
mib=${1:-256}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/lading-regbench.XXXXXX")
. "$here/lib.sh"
cleanup() { [ -n "${reg:-}" ] && kill "$reg" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
start_registry "$work"
mkdir -p "$work/src"
head -c $((mib << 20)) /dev/urandom >"$work/src/big"
tar -C "$work/src" -cf "$work/l.tar" big
"$build/convert/lading-convert" -q dir:"$work" --layer l.tar oci:"$work/img:v1"
skopeo copy -q --dest-tls-verify=false oci:"$work/img:v1" "docker://127.0.0.1:$port/bench/big:v1"
read -r blob boot < <(python3 - "$work/img" <<'PY'
import json, sys
d = sys.argv[1]
m = json.load(open(d + "/index.json"))["manifests"][0]["digest"].split(":")[1]
ls = json.load(open(d + "/blobs/sha256/" + m))["layers"]
print(ls[0]["digest"], d + "/blobs/sha256/" + ls[-1]["digest"].split(":")[1])
PY
)
t() { /usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null; cat "$work/t"; }
read -r curl_s _ < <(t curl -s -o /dev/null "http://127.0.0.1:$port/v2/bench/big/blobs/$blob")
read -r seed_s seed_kb < <(t "$build/prepare/lading-prepare" -q --plain-http \
	--seed-from "docker://127.0.0.1:$port/bench/big" "$boot" "$work/cache")
read -r sha_s _ < <(t openssl dgst -sha256 "$work/src/big")
printf 'blob: %d MiB, 1 MiB chunks, loopback docker-registry\n' "$mib"
printf '%-40s %8s %10s\n' case wall_s MiB/s
printf '%-40s %8s %10s\n' "curl, whole blob to /dev/null" "$curl_s" "$(python3 -c "print(int($mib/$curl_s))")"
printf '%-40s %8s %10s  (%d MiB RSS)\n' "lading-prepare --seed-from docker://" "$seed_s" \
	"$(python3 -c "print(int($mib/$seed_s))")" "$((seed_kb / 1024))"
printf '%-40s %8s\n' "sha256 of the same bytes" "$sha_s"
