#!/bin/bash
# lading-convert --keep-layers.  A three-layer umoci image (Go's gzip;
# whiteouts, an opaque directory, a hardlink to a lower file) is pushed to
# docker-registry on 127.0.0.1 and converted registry to registry: the
# registry's storage grows only by the artifact (seek indexes, bootstrap,
# config, manifest); the manifest references the original layers by
# digest.  The bootstrap (512-byte blocks), mounted with each layer's tar
# stream (gzip -dc of the original blob) as its device, equals umoci
# unpack, and so does lading-fill serving it from the registry (with one
# byte of a layer corrupted in the registry's storage: EIO for the files
# of that span only).  Then a layer recompressed with zstd is converted into a lading
# blob of the same image (reported as not kept), and the mixed image
# mounts and equals umoci unpack too.
. "$(dirname "$0")/lib.sh"
require_cmd umoci skopeo python3 curl zstd gzip
[ -n "${LADING_CONVERT:-}" ] || fail "LADING_CONVERT not set"
command -v docker-registry >/dev/null 2>&1 || skip "docker-registry not installed"
cd "$WORK"

umoci init --layout img >/dev/null
umoci new --image img:v1
umoci unpack --image img:v1 b >/dev/null
r=b/rootfs
mkdir -p $r/etc $r/d1/sub $r/opq $r/many
echo hello >$r/etc/hello
seq 1 300000 >$r/d1/sub/big
random_file $r/rand 3000000
echo a >$r/opq/a; echo b >$r/opq/b
for i in $(seq 1 100); do seq "$i" 900 >$r/many/f$i; done
setfattr -n user.note -v hi $r/etc/hello
umoci repack --refresh-bundle --image img:v1 b
rm -rf $r/d1 $r/opq/*
echo c >$r/opq/c
ln $r/etc/hello $r/hello-hl
random_file $r/rand2 700000
chmod 600 $r/rand; chown 1234:4321 $r/rand
umoci repack --refresh-bundle --image img:v1 b
seq 1 200000 >$r/upper
rm $r/many/f7
umoci repack --refresh-bundle --image img:v1 b
umoci unpack --image img:v1 ref >/dev/null

start_registry "$WORK/reg"
R=127.0.0.1:$REG_PORT
skopeo copy -q --dest-tls-verify=false oci:img:v1 "docker://$R/app:v1" || fail "skopeo push"
# bytes of the files the registry stores blobs (manifests included) in
store_bytes() { find "$WORK/reg/data/docker/registry/v2/blobs" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
before=$(store_bytes)

# the plain bootstrap layer, mounted straight from the registry below
"$LADING_CONVERT" --json --keep-layers --span-size 64K --plain-http --bootstrap-compression none \
	"docker://$R/app:v1" "docker://$R/app:lading" >conv.json 2>conv.err ||
	{ cat conv.err >&2; fail "convert --keep-layers"; }
jq() { python3 -c "import json,sys; d=json.load(open('conv.json')); print($1)"; }
[ "$(jq "sum(l['kept'] for l in d['layers'])")" = 3 ] || fail "not every gzip layer kept"

# the artifact, as the registry serves it
curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"http://$R/v2/app/manifests/lading" >man.json || fail "no manifest"
python3 - man.json img >layers.txt <<'EOF' || fail "manifest: $(cat layers.txt)"
import json, sys
m = json.load(open(sys.argv[1]))
idx = json.load(open(sys.argv[2] + "/index.json"))
src = json.load(open(sys.argv[2] + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
src_layers = [l["digest"] for l in src["layers"]]
L = m["layers"]
kept = [l for l in L if l["annotations"].get("io.lading.blob.codec") == "gzip-indexed"]
assert [l["digest"] for l in kept] == src_layers, "kept layers are not the source layers"
assert all(l["mediaType"].endswith("tar+gzip") for l in kept)
ix = [l for l in L if l["mediaType"] == "application/vnd.lading.seek-index.v1"]
assert [l["annotations"]["io.lading.seek-index.layer"] for l in ix] == src_layers
assert [l["annotations"]["io.lading.blob.seek-index"] for l in kept] == [l["digest"] for l in ix]
assert L[-1]["mediaType"] == "application/vnd.lading.bootstrap.v1.erofs"
new = [l for l in L if l not in kept]
print("NEW", sum(l["size"] for l in new) + m["config"]["size"])
print("BOOT", L[-1]["digest"][7:])
for l in kept:
    print("LAYER", l["digest"][7:])
EOF
after=$(store_bytes)
new=$(( $(awk '/^NEW/ {print $2}' layers.txt) + $(stat -c %s man.json) ))
grown=$((after - before))
[ "$grown" -eq "$new" ] || fail "registry grew by $grown bytes, the artifact is $new"
layer_total=$(python3 -c "import json; print(sum(l['source_size'] for l in json.load(open('conv.json'))['layers']))")
log "registry grew by $grown bytes (seek indexes + bootstrap + config) for $layer_total bytes of layers"

# mount: the bootstrap with each layer's tar stream as its device
boot=$(awk '/^BOOT/ {print $2}' layers.txt)
curl -sf "http://$R/v2/app/blobs/sha256:$boot" >boot.img || fail "no bootstrap blob"
devs=()
for l in $(awk '/^LAYER/ {print $2}' layers.txt); do
	curl -sf "http://$R/v2/app/blobs/sha256:$l" | gzip -dc >"$l.tar" || fail "layer $l"
	devs+=("$l.tar")
done
mount_image boot.img "${devs[@]}"
treecmp ref/rootfs "$MNT"
unmount_image
log "ok: kept layers mounted from their tar streams equal umoci unpack"

# lading-fill on a fresh cache, straight from the registry: Range requests
# on the original layer blobs, each span checked before the read goes on
# fill_from_registry CACHE: serves boot.img in the background on $MNT,
# until stop_filler (lib.sh)
fill_from_registry() { mount_filler boot.img "$1" --plain-http --source "docker://$R/app"; }
[ -n "${LADING_FILL:-}" ] || fail "LADING_FILL not set"
fill_from_registry "$WORK/rcache"
treecmp ref/rootfs "$MNT"
stop_filler
log "ok: lading-fill from the registry's original layers equals umoci unpack"

# one byte of a layer blob corrupted in the registry's storage: EIO for
# the files of that span, the others read right
# (the top layer: a lower one's middle is data the upper layers hide)
big=$(awk '/^LAYER/ {print $2}' layers.txt | tail -1)
data=$(find "$WORK/reg/data/docker/registry/v2/blobs" -path "*/$big/data")
[ -f "$data" ] || fail "no registry file for layer $big"
flip_bytes "$data" $(( $(stat -c %s "$data") / 2 ))
fill_from_registry "$WORK/rcache2"
read_all_or_eio "$MNT" ref/rootfs
stop_filler
[ "$READ_EIO" -ge 1 ] && [ "$READ_OK" -ge 50 ] ||
	fail "corrupt registry blob: $READ_EIO EIO, $READ_OK read"
flip_bytes "$data" $(( $(stat -c %s "$data") / 2 ))
log "ok: a corrupted registry blob: $READ_EIO files EIO, $READ_OK read right"

# ---- a zstd layer is converted, in the same image ------------------------
cp -a img mixed
python3 - mixed <<'EOF' || fail "recompressing a layer with zstd"
import hashlib, json, os, subprocess, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
mp = d + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]
m = json.load(open(mp))
l = m["layers"][1]
raw = subprocess.run(["gzip", "-dc", d + "/blobs/sha256/" + l["digest"][7:]],
                     capture_output=True, check=True).stdout
z = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
h = hashlib.sha256(z).hexdigest()
open(d + "/blobs/sha256/" + h, "wb").write(z)
l.update(mediaType="application/vnd.oci.image.layer.v1.tar+zstd", digest="sha256:" + h, size=len(z))
mb = json.dumps(m).encode()
mh = hashlib.sha256(mb).hexdigest()
open(d + "/blobs/sha256/" + mh, "wb").write(mb)
idx["manifests"][0].update(digest="sha256:" + mh, size=len(mb))
json.dump(idx, open(d + "/index.json", "w"))
EOF
"$LADING_CONVERT" --json --keep-layers oci:mixed:v1 oci:mout:lading >conv.json 2>conv.err ||
	{ cat conv.err >&2; fail "convert --keep-layers of a zstd layer"; }
[ "$(jq "[l['kept'] for l in d['layers']]")" = "[True, False, True]" ] ||
	fail "kept: $(jq "[l['kept'] for l in d['layers']]")"
python3 - mout mixed >mlayers.txt <<'EOF' || fail "mixed manifest"
import json, sys
d, src = sys.argv[1], sys.argv[2]
m = json.load(open(d + "/blobs/sha256/" + json.load(open(d + "/index.json"))["manifests"][0]["digest"][7:]))
for l in m["layers"]:
    codec = l.get("annotations", {}).get("io.lading.blob.codec")
    if codec == "gzip-indexed":
        print("DEV", src + "/blobs/sha256/" + l["digest"][7:], "gz")
    elif l["mediaType"] == "application/vnd.lading.blob.v1":
        print("DEV", d + "/blobs/sha256/" + l["digest"][7:], "blob")
    elif l["mediaType"].startswith("application/vnd.lading.bootstrap"):
        print("BOOT", d + "/blobs/sha256/" + l["digest"][7:])
EOF
[ "$(grep -c ' blob$' mlayers.txt)" = 1 ] || fail "expected one lading blob"
# no --compress: the lading blob artifact is its own uncompressed view
devs=()
n=0
while read -r kind path what; do
	[ "$kind" = DEV ] || continue
	n=$((n + 1))
	if [ "$what" = gz ]; then
		gzip -dc "$path" >"dev$n"
		devs+=("dev$n")
	else
		devs+=("$path")
	fi
done <mlayers.txt
mount_image "$(awk '/^BOOT/ {print $2}' mlayers.txt)" "${devs[@]}"
treecmp ref/rootfs "$MNT"
unmount_image
log "ok: mixed image (kept gzip layers + a converted zstd layer) equals umoci unpack"
