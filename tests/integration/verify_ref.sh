#!/bin/bash
# lading-verify REF checks the blobs where the image lives (issue #13):
# a docker:// image's blobs in its registry, through the blob sources and
# the chunk path (presence and size, the ToC against the bootstrap's
# record, every chunk's digest, the blob's sha256 streamed), an oci:DIR
# image's in DIR; the manifest's blob layers and the bootstrap's slots
# are the same set.  Damage in the registry's storage is found and named.
. "$(dirname "$0")/lib.sh"
require_cmd python3 curl
here=$(cd "$(dirname "$0")" && pwd)
cd "$WORK"

mkdir -p s1/d s2/e
seq 1 200000 >s1/d/text
random_file s1/rand 3000000
random_file s2/e/other 900000
echo small >s2/e/small
tar -C s1 -cf l1.tar .
tar -C s2 -cf l2.tar .
python3 "$here/make_oci.py" img v1 l1.tar l2.tar

start_registry "$WORK/reg" || skip "docker-registry is not installed"
R=127.0.0.1:$REG_PORT
REG="--plain-http"
convert_ok oci:img:v1 "docker://$R/app:lading" $REG --compress zstd --chunk-size 256K
convert_ok oci:img:v1 oci:lay:lading --compress zstd --chunk-size 256K
STORE=$WORK/reg/data/docker/registry/v2/blobs/sha256

# verify_json NAME REF [OPTS...]: the report in NAME.json, the exit in $rc
verify_json() {
	local name=$1 ref=$2; shift 2
	rc=0
	"$LADING_VERIFY" --json $REG "$@" "$ref" >"$name.json" 2>"$name.err" || rc=$?
}
# vget NAME PYEXPR: a value of report NAME (v is the report)
vget() { python3 -c "import json;v=json.load(open('$1.json'));print($2)"; }

# 1. the good image: every blob checked in the registry
verify_json good "docker://$R/app:lading"
[ $rc = 0 ] || fail "good image: exit $rc: $(cat good.err)"
python3 - <<EOF || fail "good image report: $(cat good.json)"
import json
v = json.load(open("good.json"))
assert v["status"] == "ok" and v["blobs_checked"] is True, v
assert len(v["blobs"]) >= 2, v["blobs"]
assert all(b["status"] == "ok" for b in v["blobs"]), v["blobs"]
assert all(b["path"] == "docker://$R/app@sha256:" + b["id"] for b in v["blobs"]), v["blobs"]
sizes = sum(b["size"] for b in v["blobs"])
assert v["blob_bytes_hashed"] == sizes, (v["blob_bytes_hashed"], sizes)
# streamed once for the digest, read once more in chunk runs
assert sizes < v["blob_bytes_fetched"] <= 2 * sizes, v
assert sorted(v["blob_ids"]) == sorted(b["id"] for b in v["blobs"]), v
EOF
log "ok: docker:// blobs checked in the registry ($(vget good "v['blob_bytes_fetched']") bytes fetched for $(vget good "sum(b['size'] for b in v['blobs'])") bytes of blobs)"

# 2. --no-blob-digest: presence, size and ToC only (a few range reads)
verify_json fast "docker://$R/app:lading" --no-blob-digest
[ $rc = 0 ] || fail "--no-blob-digest: exit $rc: $(cat fast.err)"
python3 - <<EOF || fail "--no-blob-digest report: $(cat fast.json)"
import json
v = json.load(open("fast.json"))
assert v["status"] == "ok" and v["blob_bytes_hashed"] == 0, v
assert all(b["status"] == "unchecked" for b in v["blobs"]), v["blobs"]
assert 0 < v["blob_bytes_fetched"] < sum(b["size"] for b in v["blobs"]) // 4, v
assert all(b["size"] > 0 for b in v["blobs"]), v["blobs"]
EOF
log "ok: --no-blob-digest fetched $(vget fast "v['blob_bytes_fetched']") bytes"

# 3. --extract reads a registry image's data through the same path
verify_json ext "docker://$R/app:lading" --no-blob-digest --extract x
[ $rc = 0 ] || fail "--extract over the registry: exit $rc: $(cat ext.err)"
cmp s1/rand x/rand && cmp s2/e/other x/e/other || fail "extracted data differs"
log "ok: --extract of a docker:// image"

# 4. the manifest's blob layers against the slots: a manifest that lists
#    one blob fewer, and one that lists an extra blob, are refused
manifest=$(vget good "v['manifest_digest']")
curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" \
	"http://$R/v2/app/manifests/$manifest" >man.json || fail "get the manifest"
python3 - man.json <<'EOF' || fail "edit the manifest"
import json, sys
m = json.load(open(sys.argv[1]))
blobs = [l for l in m["layers"] if l["mediaType"] == "application/vnd.lading.blob.v1"]
less = dict(m, layers=[l for l in m["layers"] if l is not blobs[0]])
more = dict(m, layers=m["layers"] + [dict(blobs[0], digest=m["config"]["digest"],
                                          size=m["config"]["size"])])
json.dump(less, open("less.json", "w"))
json.dump(more, open("more.json", "w"))
print(blobs[0]["digest"], m["config"]["digest"])
EOF
read -r dropped extra < <(python3 -c "
import json; m = json.load(open('man.json'))
b = [l for l in m['layers'] if l['mediaType'] == 'application/vnd.lading.blob.v1']
print(b[0]['digest'], m['config']['digest'])")
for t in less more; do
	curl -sf -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
		--data-binary @$t.json "http://$R/v2/app/manifests/$t" >/dev/null ||
		fail "push the $t manifest"
	verify_json $t "docker://$R/app:$t" --no-blob-digest
	[ $rc = 1 ] || fail "manifest $t: exit $rc, expected 1: $(cat $t.json)"
done
grep -q "blob ${dropped#sha256:} is not a blob layer of manifest sha256:" less.json ||
	fail "a slot outside the manifest is not named: $(cat less.json)"
grep -q "blob layer $extra is no slot of the bootstrap" more.json ||
	fail "a manifest blob outside the slots is not named: $(cat more.json)"
log "ok: manifest blob layers and bootstrap slots cross-checked"

# 5. damage in the registry's storage: a flipped byte, a truncated blob, a
#    removed blob, each named
ids=($(vget good "' '.join(b['id'] for b in v['blobs'])"))
size0=$(vget good "v['blobs'][0]['size']")
flip_bytes "$STORE/${ids[0]:0:2}/${ids[0]}/data" $((size0 / 3))
verify_json flip "docker://$R/app:lading"
[ $rc = 1 ] || fail "flipped byte: exit $rc, expected 1: $(cat flip.err)"
python3 - <<EOF || fail "flipped byte report: $(cat flip.json)"
import json
v = json.load(open("flip.json"))
b = v["blobs"][0]
assert v["status"] == "failed" and b["id"] == "${ids[0]}", v
assert b["status"] == "bad-digest", b
assert any(p.startswith("blob ${ids[0]}: content digest is ") for p in v["problems"]), v["problems"]
assert any(p.startswith("blob ${ids[0]}: chunk ") and "does not decode to its digest" in p
           for p in v["problems"]), v["problems"]
assert all(x["status"] == "ok" for x in v["blobs"][1:]), v["blobs"]
EOF
grep -q "blob ${ids[0]}" flip.err || fail "stderr does not name the blob: $(cat flip.err)"
log "ok: a flipped byte in the registry is named ($(head -c 200 flip.err))"

# the ToC alone (--no-blob-digest) still passes over a flipped data byte;
# a truncated blob does not
python3 -c "import os,sys; os.truncate(sys.argv[1], os.path.getsize(sys.argv[1]) - 100)" \
	"$STORE/${ids[1]:0:2}/${ids[1]}/data"
verify_json trunc "docker://$R/app:lading" --no-blob-digest
[ $rc = 1 ] || fail "truncated blob: exit $rc, expected 1: $(cat trunc.err)"
[ "$(vget trunc "v['blobs'][1]['status']")" = bad-size ] ||
	fail "truncated blob: $(cat trunc.json)"
grep -q "blob ${ids[1]}: $(( $(vget good "v['blobs'][1]['size']") - 100 )) bytes, the bootstrap says" trunc.json || fail "truncated blob not named: $(cat trunc.json)"
rm -r "$STORE/${ids[1]:0:2}/${ids[1]}"
verify_json gone "docker://$R/app:lading" --no-blob-digest
[ $rc = 1 ] || fail "removed blob: exit $rc, expected 1: $(cat gone.err)"
[ "$(vget gone "v['blobs'][1]['status']")" = missing ] || fail "removed blob: $(cat gone.json)"
grep -q "blob ${ids[1]} (slot 2): not found in docker://$R/app" gone.json ||
	fail "removed blob not named: $(cat gone.json)"
log "ok: a truncated and a removed registry blob are named"

# 6. oci:DIR:REF: the layout's blobs, the same checks
verify_json oci oci:lay:lading
[ $rc = 0 ] || fail "oci layout: exit $rc: $(cat oci.err)"
[ "$(vget oci "v['blobs_checked'] and all(b['status'] == 'ok' for b in v['blobs'])")" = True ] ||
	fail "oci layout report: $(cat oci.json)"
oid=$(vget oci "v['blobs'][0]['id']")
flip_bytes "lay/blobs/sha256/$oid" 5000
verify_json ocibad oci:lay:lading
[ $rc = 1 ] || fail "oci layout, flipped byte: exit $rc"
grep -q "blob $oid: content digest is" ocibad.json || fail "oci blob not named: $(cat ocibad.json)"
log "ok: oci: layout blobs checked"
stop_registry
