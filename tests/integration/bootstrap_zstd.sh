#!/bin/bash
# The bootstrap layer compressed in transport (issue 14, item 4): published
# images carry it zstd-compressed (descriptor: the compressed bytes;
# annotations: the bootstrap's digest and size); the node decompresses at
# most the declared size, checks both digests and keeps the bootstrap in
# its cache by its id, which equals the uncompressed form's; a registry
# node mounts it (fanotify) and sees the source tree; manifests with the
# plain layer keep working; every malformed layer is refused with one line
# and leaves nothing in the cache.
. "$(dirname "$0")/lib.sh"
require_cmd python3 umoci skopeo curl zstd
[ -n "${LADING_FILL:-}" ] || fail "LADING_FILL not set"
here=$(cd "$(dirname "$0")" && pwd)
cd "$WORK"
# a filler left by a failure is stopped before the work dir goes
trap 'rc=$?; [ -n "${filler:-}" ] && kill -TERM "$filler" 2>/dev/null && wait "$filler" 2>/dev/null; (exit $rc); cleanup_work' EXIT
filler=
help=$("$LADING_CONVERT" --help)	# whole: grep -q would close the pipe early
grep -q "zstd" <<<"$help" || skip "lading built without zstd"

mkdir -p src/d
random_file src/a 300000
for i in $(seq 1 200); do echo "small $i" >"src/d/f$i"; done
tar -C src -cf l1.tar .
python3 "$here/make_oci.py" img v1 l1.tar
umoci unpack --image img:v1 ref >/dev/null

# oci: keeps the plain layer by default; --bootstrap-compression zstd
convert_ok oci:img:v1 oci:lay:plain
plain=$(jget "['bootstrap_digest']")
[ "$(jget "['bootstrap_layer_digest']")" = None ] || fail "oci: compressed its bootstrap by default"
convert_ok --bootstrap-compression zstd oci:img:v1 oci:lay:z
[ "$(jget "['bootstrap_digest']")" = "$plain" ] || fail "the bootstrap id depends on the transport"
zl=$(jget "['bootstrap_layer_digest']")
python3 - "$plain" "$zl" <<'PY' || fail "the zstd layer's descriptor"
import json, os, sys
plain, zl = sys.argv[1], sys.argv[2]
idx = json.load(open("lay/index.json"))
d = [m for m in idx["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "z"][0]
man = json.load(open("lay/blobs/sha256/" + d["digest"][7:]))
b = man["layers"][-1]
assert b["mediaType"] == "application/vnd.lading.bootstrap.v1.erofs+zstd", b
assert b["digest"] == zl and b["size"] == os.path.getsize("lay/blobs/sha256/" + zl[7:]), b
a = b["annotations"]
assert a["io.lading.bootstrap.uncompressed-digest"] == plain, a
cfg = json.load(open("lay/blobs/sha256/" + man["config"]["digest"][7:]))
assert cfg["rootfs"]["diff_ids"][-1] == plain, cfg["rootfs"]
PY
zstd -q -d -c "lay/blobs/sha256/${zl#sha256:}" | sha256sum | grep -q "^${plain#sha256:} " ||
	fail "the layer does not decompress to the bootstrap"
for ref in plain z; do
	"$LADING_PREPARE" --json "oci:$WORK/lay:$ref" "c-$ref" >"prep-$ref.json" 2>"prep-$ref.err" ||
		fail "lading-prepare oci:lay:$ref: $(cat "prep-$ref.err")"
	sha256sum "c-$ref/${plain#sha256:}" | grep -q "^${plain#sha256:} " ||
		fail "$ref: the cached bootstrap is not $plain"
done
log "ok: oci: plain by default; zstd layer decompresses to the same bootstrap id"

# a registry node: --attach publishes the zstd layer; the filler mounts it
start_registry "$WORK/reg" || skip "docker-registry is not installed"
R=127.0.0.1:$REG_PORT
skopeo copy -q --dest-tls-verify=false oci:img:v1 "docker://$R/app:1.0" || fail "skopeo push"
"$LADING_CONVERT" --json --plain-http --attach "docker://$R/app:1.0" >conv.json 2>conv.err ||
	fail "convert --attach: $(cat conv.err)"
[ "$(jget "['bootstrap_digest']")" = "$plain" ] || fail "attach: another bootstrap"
[ "$(jget "['bootstrap_layer_digest']")" != None ] || fail "attach: the bootstrap is not compressed"
"$LADING_CONVERT" -q --plain-http --bootstrap-compression none oci:img:v1 \
	"docker://$R/old:plain" 2>conv.err || fail "push plain: $(cat conv.err)"
for ref in app:1.0 old:plain; do
	mkdir -p "mnt-${ref%%:*}"
	"$LADING_FILL" mount --backend fanotify --json --plain-http "docker://$R/$ref" \
		"mnt-${ref%%:*}" --cache "fc-${ref%%:*}" >fill.json 2>fill.err &
	filler=$!
	for _ in $(seq 1 150); do
		grep -q " $WORK/mnt-${ref%%:*} " /proc/mounts && break
		if ! kill -0 $filler 2>/dev/null; then
			grep -q "back end unavailable" fill.err && skip "$(cat fill.err)"
			fail "lading-fill $ref: $(cat fill.err)"
		fi
		sleep 0.1
	done
	treecmp ref/rootfs "mnt-${ref%%:*}"
	kill -TERM $filler
	wait $filler || fail "lading-fill $ref exit $?: $(cat fill.err)"
	filler=
	python3 - "$plain" "$ref" <<'PY' || fail "$ref: $(cat fill.json)"
import json, sys
s = json.load(open("fill.json"))
assert s["bootstrap_digest"] == sys.argv[1], s
assert s["bootstrap_compression"] == ("zstd" if sys.argv[2] == "app:1.0" else None), s
assert (s["bootstrap_transport_size"] < s["bootstrap_size"]) == (sys.argv[2] == "app:1.0"), s
PY
	sha256sum "fc-${ref%%:*}/${plain#sha256:}" | grep -q "^${plain#sha256:} " ||
		fail "$ref: the node's bootstrap is not $plain"
done
log "ok: the node's bootstrap from the zstd layer equals the manifest's digest; plain manifests still mount"

# malformed zstd layers: tags derived from lay:z, each refused
python3 - <<'PY'
import hashlib, json, subprocess
lay = "lay"
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open("%s/blobs/sha256/%s" % (lay, d), "wb").write(data)
    return "sha256:" + d, len(data)
idx = json.load(open(lay + "/index.json"))
d = [m for m in idx["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "z"][0]
man0 = open(lay + "/blobs/sha256/" + d["digest"][7:]).read()
z = open(lay + "/blobs/sha256/" + json.loads(man0)["layers"][-1]["digest"][7:], "rb").read()
raw = subprocess.run(["zstd", "-q", "-d", "-c"], input=z, stdout=subprocess.PIPE, check=True).stdout
def tag(name, data=None, ann=None, fake_digest=False):
    man = json.loads(man0)
    b = man["layers"][-1]
    if data is not None and fake_digest:
        # the bytes under a name they do not hash to
        dg = "sha256:" + hashlib.sha256(b"fake" + data).hexdigest()
        open("%s/blobs/sha256/%s" % (lay, dg[7:]), "wb").write(data)
        b["digest"], b["size"] = dg, len(data)
    elif data is not None:
        b["digest"], b["size"] = put(data)
    if ann:
        for k, v in ann.items():
            if v is None:
                b["annotations"].pop(k)
            else:
                b["annotations"][k] = v
    md, ms = put(json.dumps(man).encode())
    idx["manifests"].append({"mediaType": d["mediaType"], "digest": md, "size": ms,
                             "annotations": {"org.opencontainers.image.ref.name": name}})
U = "io.lading.bootstrap.uncompressed-"
tag("small", ann={U + "size": str(len(raw) - 4096)})
tag("garbage", data=b"not zstd at all" * 100)
tag("trunc", data=z[: len(z) // 2])
tag("trailing", data=z + b"\0\0\0\0junk")
tag("twoframes", data=z + z)
tag("otherid", ann={U + "digest": "sha256:" + hashlib.sha256(b"x").hexdigest()})
tag("noann", ann={U + "size": None})
tag("fakedigest", data=z, fake_digest=True)
tag("notblocks", ann={U + "size": "4097"})
json.dump(idx, open(lay + "/index.json", "w"))
PY
for t in small:"decompresses to more" garbage:"not one valid zstd frame" \
	trunc:"truncated" trailing:"not one valid zstd frame" twoframes:"not one valid zstd frame" \
	otherid:"not what its descriptor says" fakedigest:"bootstrap layer.*not what its descriptor says" noann:"no valid" notblocks:"no valid"; do
	ref=${t%%:*} why=${t#*:}
	rc=0
	"$LADING_PREPARE" -q "oci:$WORK/lay:$ref" "c-bad-$ref" 2>bad.err || rc=$?
	[ $rc = 1 ] || fail "$ref: exit $rc, not 1 ($(cat bad.err))"
	[ "$(wc -l <bad.err)" = 1 ] || fail "$ref: not one line: $(cat bad.err)"
	grep -q "$why" bad.err || fail "$ref: not '$why': $(cat bad.err)"
	[ -z "$(find "c-bad-$ref" -type f 2>/dev/null)" ] || fail "$ref: left $(find "c-bad-$ref" -type f)"
done
log "ok: malformed zstd bootstrap layers refused, nothing kept"
