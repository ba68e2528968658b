#!/bin/bash
# Conversion benchmark: a 3-layer gzip OCI image of the bench rootfs
# (everything but usr/ and opt/, then usr/, then opt/), converted by
# lading-convert, against igzip -dc (ISA-L) and gzip -dc of the same layers.
#   bench/convert.sh [ROOTFS]   (default: the rootfs of bench/make-rootfs.sh)
# Prints wall seconds, peak RSS and throughput. Not a test: no assertions.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${LADING_BUILD:-$here/../build}
convert=$build/convert/lading-convert
cache=${LADING_BENCH_CACHE:-${LADING_BENCH_DIR:-/var/tmp/lading-bench}}
src=${1:-$cache/rootfs}
img=$cache/oci-3layers
[ -d "$src" ] || { echo "no rootfs $src (run bench/make-rootfs.sh)" >&2; exit 1; }
[ -x "$convert" ] || { echo "build first: $convert" >&2; exit 1; }
command -v igzip >/dev/null || { echo "install isal (igzip)" >&2; exit 1; }

if [ ! -f "$img/index.json" ]; then
	tmp=$(mktemp -d "$cache/oci.XXXXXX")
	mkdir -p "$tmp/blobs/sha256" "$tmp/l"
	tar -C "$src" --numeric-owner --sort=name --exclude=./usr --exclude=./opt -cf - . |
		igzip -c >"$tmp/l/1"
	tar -C "$src" --numeric-owner --sort=name -cf - ./usr | igzip -c >"$tmp/l/2"
	tar -C "$src" --numeric-owner --sort=name -cf - ./opt | igzip -c >"$tmp/l/3"
	python3 - "$tmp" <<'PY'
import hashlib, json, os, subprocess, sys
d = sys.argv[1]
def put(data):
    h = hashlib.sha256(data).hexdigest()
    open(f"{d}/blobs/sha256/{h}", "wb").write(data)
    return "sha256:" + h, len(data)
layers, diffs = [], []
for i in (1, 2, 3):
    p = f"{d}/l/{i}"
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    dig = h.hexdigest()
    os.rename(p, f"{d}/blobs/sha256/{dig}")
    unz = subprocess.run(f"igzip -dc {d}/blobs/sha256/{dig} | sha256sum", shell=True,
                         stdout=subprocess.PIPE, check=True).stdout.split()[0].decode()
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": "sha256:" + dig,
                   "size": os.path.getsize(f"{d}/blobs/sha256/{dig}")})
    diffs.append("sha256:" + unz)
cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
       "rootfs": {"type": "layers", "diff_ids": diffs}}
cd, cs = put(json.dumps(cfg).encode())
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                  "digest": cd, "size": cs}, "layers": layers}
md, ms = put(json.dumps(man).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": man["mediaType"],
           "digest": md, "size": ms,
           "annotations": {"org.opencontainers.image.ref.name": "latest"}}]},
          open(f"{d}/index.json", "w"))
open(f"{d}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
	rmdir "$tmp/l"
	mv "$tmp" "$img"
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/lading-conv.XXXXXX")
trap 'rm -rf "$work"' EXIT
layers=$(python3 -c "
import json
m=json.load(open('$img/index.json'))['manifests'][0]['digest'].split(':')[1]
print(' '.join('$img/blobs/sha256/'+l['digest'].split(':')[1] for l in json.load(open('$img/blobs/sha256/'+m))['layers']))")
# shellcheck disable=SC2086
cat $layers >/dev/null
gz_bytes=$(du -cb $layers | tail -1 | cut -f1)
raw_bytes=$(for l in $layers; do igzip -dc "$l"; done | wc -c)

t() { /usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null; cat "$work/t"; }
# shellcheck disable=SC2086
read -r igzip_s _ < <(t sh -c "for l in $layers; do igzip -dc \$l; done")
# shellcheck disable=SC2086
read -r gzip_s _ < <(t sh -c "for l in $layers; do gzip -dc \$l; done")
read -r conv_s conv_kb < <(t "$convert" -q --no-progress "oci:$img" "oci:$work/out")
read -r convz_s convz_kb < <(t "$convert" -q --no-progress --compress zstd "oci:$img" "oci:$work/outz")

mib() { python3 -c "print(f'{$1/1048576:.0f}')"; }
rate() { python3 -c "print(f'{$raw_bytes/1048576/$1:.0f}')"; }
echo "image: 3 gzip layers, $(mib "$gz_bytes") MiB compressed, $(mib "$raw_bytes") MiB of tar"
printf '%-28s %8s %10s %10s\n' case wall_s MiB/s rss_MiB
printf '%-28s %8s %10s %10s\n' "igzip -dc (ISA-L)" "$igzip_s" "$(rate "$igzip_s")" -
printf '%-28s %8s %10s %10s\n' "gzip -dc (zlib)" "$gzip_s" "$(rate "$gzip_s")" -
printf '%-28s %8s %10s %10s\n' "lading-convert" "$conv_s" "$(rate "$conv_s")" "$((conv_kb / 1024))"
printf '%-28s %8s %10s %10s\n' "lading-convert --compress zstd" "$convz_s" "$(rate "$convz_s")" "$((convz_kb / 1024))"
python3 -c "print(f'throughput vs igzip -dc: {$igzip_s/$conv_s:.2f}x (target >= 0.9x)')"
