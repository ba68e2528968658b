#!/bin/sh
# Bounded libFuzzer runs (clang, ASan+UBSan): the bootstrap reader, seeded
# from images lading-mkimage builds, then the filler's kernel message
# parsers, seeded with well-formed messages, then tar ingest, seeded with
# tars from the writers at hand, then OCI index/manifest/config parsing,
# seeded with the documents image builders write.  CI runs each for 60 s.
#   scripts/fuzz.sh [SECONDS]
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
dir=build-fuzz
CC=clang cmake -S . -B "$dir" -DLADING_FUZZ=ON -DLADING_WERROR=ON >/dev/null
cmake --build "$dir" -j"$(nproc)" --target reader_fuzz fill_fuzz tar_fuzz lading-mkimage
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tests/fuzz/make-seeds.sh "$work/seeds" "$dir/mkimage/lading-mkimage" >/dev/null
mkdir -p "$work/corpus"
"$dir/tests/fuzz/reader_fuzz" -max_total_time="$secs" -max_len=65536 \
	-use_value_profile=1 -print_final_stats=1 "$work/corpus" "$work/seeds" \
	2>"$work/fuzz.log" || { tail -40 "$work/fuzz.log"; exit 1; }
grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$work/fuzz.log" || true
tail -n 2 "$work/fuzz.log"

# the filler's parsers: seeds are one OPEN, one READ and one event
mkdir -p "$work/fill-seeds" "$work/fill-corpus"
python3 - "$work/fill-seeds" <<'PY'
import struct, sys
d = sys.argv[1]
vol, key = b"erofs,dom\0", b"0" * 64
body = struct.pack("<4I", len(vol), len(key), 5, 0) + vol + key
open(d + "/open", "wb").write(b"\0" + struct.pack("<4I", 1, 0, 16 + len(body), 2) + body)
open(d + "/read", "wb").write(b"\0" + struct.pack("<4IQQ", 2, 2, 32, 2, 4096, 65536))
ev = struct.pack("<IBBHQii", 48, 3, 0, 24, 0x100000, 7, 99) + struct.pack("<BBHIQQ", 6, 0, 24, 0, 0, 4096)
open(d + "/event", "wb").write(b"\1" + ev + ev)
PY
"$dir/tests/fuzz/fill_fuzz" -max_total_time="$secs" -max_len=2048 \
	-print_final_stats=1 "$work/fill-corpus" "$work/fill-seeds" \
	2>"$work/fill-fuzz.log" || { tail -40 "$work/fill-fuzz.log"; exit 1; }
grep -E "^(Done|stat::number_of_executed_units)" "$work/fill-fuzz.log" || true

# tar ingest (lib/source over libarchive): seeds from tests/fuzz/make-tar-seeds.sh
mkdir -p "$work/tar-corpus"
tests/fuzz/make-tar-seeds.sh "$work/tar-seeds" 2>/dev/null
"$dir/tests/fuzz/tar_fuzz" -max_total_time="$secs" -max_len=131072 \
	-rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
	"$work/tar-corpus" "$work/tar-seeds" \
	2>"$work/tar-fuzz.log" || { tail -40 "$work/tar-fuzz.log"; exit 1; }
grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$work/tar-fuzz.log" || true
# OCI index/manifest/config parsing: seeds are the documents an image
# builder writes (first byte: 0 index, 1 manifest, 2 config)
cmake --build "$dir" -j"$(nproc)" --target oci_fuzz
mkdir -p "$work/oci-seeds" "$work/oci-corpus"
python3 - "$work/oci-seeds" <<'PY'
import json, sys
d = sys.argv[1]
h = lambda c: "sha256:" + c * 64
def put(name, kind, doc):
    open("%s/%s" % (d, name), "wb").write(bytes([kind]) + json.dumps(doc).encode())
layer = lambda c, s: {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": h(c), "size": s}
put("index", 0, {"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": h("a"),
     "size": 421, "annotations": {"org.opencontainers.image.ref.name": "latest"}},
    {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": h("b"),
     "size": 300, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]})
put("index-platform", 0, {"manifests": [
    {"digest": h("c"), "size": 10, "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": h("d"), "size": 10.5, "platform": {"os": "linux", "architecture": "s390x"}}]})
put("manifest", 1, {"schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": h("e"), "size": 363},
    "layers": [layer("1", 300375), layer("2", 0)]})
put("manifest-docker", 1, {"schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"digest": h("f"), "size": "12"},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": h("3"), "size": -1}]})
put("manifest-index", 1, {"mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
    "manifests": [{"digest": h("4"), "size": 9223372036854775807,
                   "platform": {"os": "linux", "architecture": "amd64"}}]})
put("config", 2, {"architecture": "amd64", "os": "linux", "variant": "v2",
    "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
    "rootfs": {"type": "layers", "diff_ids": [h("5"), h("6"), "sha256:zz", 7]}})
PY
"$dir/tests/fuzz/oci_fuzz" -max_total_time="$secs" -max_len=16384 \
	-use_value_profile=1 -print_final_stats=1 "$work/oci-corpus" "$work/oci-seeds" \
	2>"$work/oci-fuzz.log" || { tail -40 "$work/oci-fuzz.log"; exit 1; }
grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$work/oci-fuzz.log" || true
