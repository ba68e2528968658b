#!/bin/bash
# lading-convert --keep-layers --attach docker://R/app:1.0 (issue #15): a
# three-layer umoci image whose layers are gzip from three writers (Go's
# gzip from umoci, GNU gzip, multi-member pigz) is pushed to
# docker-registry on 127.0.0.1; the lading form is attached to it with
# its kept layers being the source's own layers in the same repository.
# The registry's storage grows only by the artifact (bootstrap, seek
# indexes, config, manifest, referrer tag index).  lading-fill mounts the
# ORIGINAL tag (found through its tag-schema referrer) on a fresh cache:
# the tree equals umoci unpack; --prefetch completes the cache and a
# restart fetches nothing.  lading-verify REF checks every span and each
# layer's diff_id against the source image, and --source docker://R/app:1.0
# compares the tree with the source's merged layers.  With one byte of a layer
# blob flipped in the registry's storage: EIO for the files of the damaged
# span only, the others read right, nothing unverified in the cache, and
# lading-verify names the layer and span.
. "$(dirname "$0")/lib.sh"
require_cmd umoci skopeo python3 curl gzip pigz
[ -n "${LADING_CONVERT:-}" ] || fail "LADING_CONVERT not set"
[ -n "${LADING_FILL:-}" ] || fail "LADING_FILL not set"
cd "$WORK"

umoci init --layout img >/dev/null
umoci new --image img:v1
umoci unpack --image img:v1 b >/dev/null
r=b/rootfs
mkdir -p $r/etc $r/d $r/many $r/opq
echo hello >$r/etc/hello
random_file $r/d/rand 2000000
seq 1 300000 >$r/d/seq
echo a >$r/opq/a
for i in $(seq 1 60); do seq "$i" 2000 >$r/many/f$i; done
umoci repack --refresh-bundle --image img:v1 b
rm $r/many/f3
rm -rf $r/opq/*
echo c >$r/opq/c
random_file $r/upper 600000
seq 5 200000 >$r/useq
umoci repack --refresh-bundle --image img:v1 b
for i in $(seq 1 40); do seq "$i" 3000 >$r/many/g$i; done
random_file $r/top 900000
umoci repack --refresh-bundle --image img:v1 b
umoci unpack --image img:v1 ref >/dev/null
# layer 2 in GNU gzip, layer 3 in multi-member pigz: the same tar streams
# (so the same diff_ids), other gzip writers
python3 - img <<'PY' || fail "recompressing layers"
import hashlib, json, subprocess, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
mp = d + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]
m = json.load(open(mp))
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(d + "/blobs/sha256/" + h, "wb").write(b)
    return "sha256:" + h
def tar_of(l):
    return subprocess.run(["gzip", "-dc", d + "/blobs/sha256/" + l["digest"][7:]],
                          capture_output=True, check=True).stdout
def run(cmd, data):
    return subprocess.run(cmd, input=data, capture_output=True, check=True).stdout
t = tar_of(m["layers"][1])
gz = run(["gzip", "-6", "-n", "-c"], t)
t = tar_of(m["layers"][2])
h = len(t) // 3
pz = run(["pigz", "-p", "2", "-c"], t[:h]) + run(["pigz", "-p", "2", "-c"], t[h:2 * h]) + \
     run(["pigz", "-p", "2", "-c"], t[2 * h:])
for l, b in ((m["layers"][1], gz), (m["layers"][2], pz)):
    l.update(digest=put(b), size=len(b))
mb = json.dumps(m).encode()
idx["manifests"][0].update(digest=put(mb), size=len(mb))
json.dump(idx, open(d + "/index.json", "w"))
PY

start_registry "$WORK/reg" || skip "docker-registry not installed"
R=127.0.0.1:$REG_PORT
skopeo copy -q --dest-tls-verify=false oci:img:v1 "docker://$R/app:1.0" || fail "skopeo push"
# bytes of the files the registry stores blobs (manifests included) in
store_bytes() { find "$WORK/reg/data/docker/registry/v2/blobs" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
before=$(store_bytes)

convert_ok --keep-layers --span-size 64K --plain-http --attach "docker://$R/app:1.0"
[ "$(jget "['attached'][0]['referrer']")" = tag-schema ] || fail "referrer: $(cat conv.json)"
[ "$(python3 -c "import json; print(sum(l['kept'] for l in json.load(open('conv.json'))['layers']))")" = 3 ] ||
	fail "not every gzip layer kept: $(cat conv.json)"
lad=$(jget "['attached'][0]['manifest']")
orig=$(jget "['attached'][0]['source_manifest']")
curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"http://$R/v2/app/manifests/$lad" >man.json || fail "no lading manifest"
curl -sf -H 'Accept: application/vnd.oci.image.index.v1+json' \
	"http://$R/v2/app/manifests/sha256-${orig#sha256:}" >reftag.json || fail "no referrer tag"
python3 - man.json img >layers.txt <<'PY' || fail "manifest: $(cat layers.txt)"
import json, sys
m = json.load(open(sys.argv[1]))
idx = json.load(open(sys.argv[2] + "/index.json"))
src = json.load(open(sys.argv[2] + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
L = m["layers"]
kept = [l for l in L if l["annotations"].get("io.lading.blob.codec") == "gzip-indexed"]
assert [l["digest"] for l in kept] == [l["digest"] for l in src["layers"]], "kept layers are not the source's"
new = [l for l in L if l not in kept]
print("NEW", sum(l["size"] for l in new) + m["config"]["size"])
for l in kept:
    print("LAYER", l["digest"][7:])
PY
after=$(store_bytes)
new=$(( $(awk '/^NEW/ {print $2}' layers.txt) + $(stat -c %s man.json) + $(stat -c %s reftag.json) ))
grown=$((after - before))
[ "$grown" -eq "$new" ] || fail "registry grew by $grown bytes, the artifact is $new"
log "ok: attached; the registry grew by $grown bytes, the artifact"

FILL_OPTS=--plain-http

# the original tag, through its tag-schema referrer, on a fresh cache
start_filler "docker://$R/app:1.0" "$WORK/c1"
treecmp ref/rootfs "$MNT"
stop_filler
[ "$(sget found_by)" = tag-schema ] || fail "found_by $(sget found_by)"
[ "$(sget manifest_digest)" = "$lad" ] || fail "manifest $(sget manifest_digest), not $lad"
[ "$(sget bytes_fetched)" -gt 0 ] || fail "nothing fetched"
log "ok: docker://$R/app:1.0 through its referrer equals umoci unpack ($(sget bytes_fetched) bytes fetched)"

# --prefetch completes the cache; a restart fetches nothing
start_filler "docker://$R/app:1.0" "$WORK/c2" --prefetch
wait_completed 3 "the layers"
stop_filler
for l in $(awk '/^LAYER/ {print $2}' layers.txt); do
	[ "$(data_bytes "$WORK/c2/$l")" = "$(stat -c %s "$WORK/c2/$l")" ] || fail "prefetch left holes in $l"
done
start_filler "docker://$R/app:1.0" "$WORK/c2"
treecmp ref/rootfs "$MNT"
stop_filler
[ "$(sget bytes_fetched)" = 0 ] || fail "restart fetched $(sget bytes_fetched) bytes"
log "ok: --prefetch completed the cache, a restart fetched nothing"

# lading-verify of the original tag: every span through the chunk path,
# each layer's tar stream against the source config's diff_id
[ -n "${LADING_VERIFY:-}" ] || fail "LADING_VERIFY not set"
"$LADING_VERIFY" --json --plain-http "docker://$R/app:1.0" >v1.json 2>v1.err ||
	fail "lading-verify docker://$R/app:1.0: $(cat v1.err v1.json)"
python3 - v1.json man.json layers.txt <<'PY' || fail "verify report: $(cat v1.json)"
import json, sys
r, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
kept = [l.split()[1] for l in open(sys.argv[3]) if l.startswith("LAYER")]
assert r["status"] == "ok", r["problems"]
st = {b["id"]: b["status"] for b in r["blobs"]}
assert all(st[k] == "ok" for k in kept), st
assert r["spans_checked"] > 3 * 10, r["spans_checked"]
assert r["blob_bytes_fetched"] >= sum(l["size"] for l in m["layers"][:3]) - 100, r["blob_bytes_fetched"]
PY
log "ok: lading-verify checked $(python3 -c "import json;print(json.load(open('v1.json'))['spans_checked'])") spans and the diff_ids"

# the tree against the source image in the registry: its merged layers
# read by the tar source (the lading form pulled to check it locally)
skopeo copy -q --src-tls-verify=false "docker://$R/app@$lad" oci:pulled:l || fail "skopeo pull of $lad"
"$LADING_VERIFY" --json --plain-http --source "docker://$R/app:1.0" \
	oci:pulled:l >v3.json 2>v3.err || fail "verify --source docker://$R/app:1.0: $(cat v3.err v3.json)"
[ "$(python3 -c "import json;d=json.load(open('v3.json'));print(d['source_compared'], d['status'])")" = "True ok" ] ||
	fail "verify --source: $(cat v3.json)"
log "ok: the tree equals the source image's merged layers (lading-verify --source docker://)"

# one byte of a layer blob flipped in the registry's storage (the GNU gzip
# layer: its middle is not hidden by the layer above)
bad_layer=$(awk '/^LAYER/ {print $2}' layers.txt | sed -n 2p)
data=$(find "$WORK/reg/data/docker/registry/v2/blobs" -path "*/$bad_layer/data")
[ -f "$data" ] || fail "no registry file for layer $bad_layer"
flip_bytes "$data" $(( $(stat -c %s "$data") / 2 ))
start_filler "docker://$R/app:1.0" "$WORK/c3"
read_all_or_eio "$MNT" ref/rootfs
stop_filler
[ "$READ_EIO" -ge 1 ] || fail "a damaged span went unnoticed"
[ "$READ_OK" -ge 50 ] || fail "only $READ_OK files read past a damaged span"
[ "$(sget verify_failures)" -ge 1 ] || fail "no verify failure counted"
# the cache holds the layer's true tar bytes where it holds anything
gzip -dc "img/blobs/sha256/$bad_layer" >good.tar
python3 - "$WORK/c3/$bad_layer" good.tar <<'PY' || fail "an unverified byte is in the cache"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); good = open(sys.argv[2], "rb").read()
size = os.fstat(fd).st_size; off = 0
assert size == len(good), (size, len(good))
cache = os.pread(fd, size, 0)
while off < size:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    # a block a written span shares with an unwritten one reads zeros there
    for i in range(d, h):
        if cache[i] != good[i] and cache[i] != 0:
            sys.exit("byte %d in the cache is not the layer's" % i)
    off = h
PY
log "ok: a damaged layer blob in the registry: $READ_EIO files EIO, $READ_OK read right, the cache holds only verified bytes"

# lading-verify names the layer and the span
if "$LADING_VERIFY" --plain-http "docker://$R/app:1.0" >v2.out 2>&1; then
	fail "lading-verify accepted a damaged layer"
fi
grep -q "layer sha256:$bad_layer (slot 2): span [0-9]* (uncompressed bytes [0-9]*+[0-9]*, stored at [0-9]*+[0-9]*, gzip-indexed): does not decode to its digest" v2.out ||
	fail "verify: $(cat v2.out)"
log "ok: lading-verify: $(grep -m1 "span [0-9]" v2.out)"
