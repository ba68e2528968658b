#!/bin/bash
# lading-convert --attach and --merge-index: a lading image published where
# clients of the original look.  Against Debian's docker-registry 2.8 (no
# referrers API: the referrers tag schema sha256-<hex>) and a small OCI 1.1
# registry stub with the referrers API (tests/tools/oci_registry.py):
# the referrer index and the subject; the original tag's manifest digest
# unchanged; a re-attach deduplicated by digest, a newer one added; a
# two-platform index (skopeo copy --all) with one lading manifest per
# platform; the merged index read by skopeo and umoci as the original;
# the lading image pulled back and mounted by the kernel, equal to umoci's
# tree; a bad SRC and a registry refusing the referrer tag fail with one
# line, the original untouched.
. "$(dirname "$0")/lib.sh"
require_cmd python3 umoci skopeo curl
[ -n "${LADING_CONVERT:-}" ] || fail "LADING_CONVERT not set"
here=$(cd "$(dirname "$0")" && pwd)
cd "$WORK"

# ---- fixtures: linux/amd64 and linux/arm64 images, and an index of both ----
umoci init --layout img
for arch in amd64 arm64; do
	umoci new --image img:$arch
	umoci config --image img:$arch --architecture $arch --os linux
	umoci unpack --image img:$arch b-$arch >/dev/null
	r=b-$arch/rootfs
	mkdir -p $r/etc $r/bin $r/data
	echo "hello from $arch" >$r/etc/hello
	seq 1 200000 >$r/data/big
	random_file $r/data/rand-$arch 300000
	ln -s ../etc/hello $r/bin/link
	set_mtimes $r	# older than the SOURCE_DATE_EPOCH used below (clamps mtimes)
	umoci repack --refresh-bundle --image img:$arch b-$arch
	umoci unpack --image img:$arch ref-$arch >/dev/null
done
# the index "multi", as a multi-platform build would push it
python3 - img <<'PY'
import hashlib, json, os, sys
lay = sys.argv[1]
idx = json.load(open(lay + "/index.json"))
blob = lambda d: open(lay + "/blobs/sha256/" + d.split(":")[1], "rb").read()
ents = []
for d in idx["manifests"]:
    man = json.loads(blob(d["digest"]))
    cfg = json.loads(blob(man["config"]["digest"]))
    ents.append({"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"],
                 "platform": {"os": cfg["os"], "architecture": cfg["architecture"]}})
body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": ents}).encode()
dg = hashlib.sha256(body).hexdigest()
open(lay + "/blobs/sha256/" + dg, "wb").write(body)
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                         "digest": "sha256:" + dg, "size": len(body),
                         "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(idx, open(lay + "/index.json", "w"))
PY
amd_orig=$(python3 -c "import json;print([d['digest'] for d in json.load(open('img/index.json'))['manifests'] if d.get('annotations',{}).get('org.opencontainers.image.ref.name')=='amd64'][0])")
cp -a img img-stub	# what the registry stub starts with (no lading form yet)

start_registry "$WORK/reg" || skip "docker-registry not installed"
R=127.0.0.1:$REG_PORT
raw() { skopeo inspect --raw --tls-verify=false "docker://$R/$1"; }
digest_of() { raw "$1" | sha256sum | sed 's/^/sha256:/; s/ .*//'; }
# get PATH ACCEPT: a registry document by plain HTTP
get() { curl -sf -H "Accept: $2" "http://$R/v2/$1"; }
IDX=application/vnd.oci.image.index.v1+json
attach() { convert_ok --plain-http "$@"; }

skopeo copy -q --dest-tls-verify=false oci:img:amd64 "docker://$R/app:1.0" || fail "skopeo push"
orig=$(digest_of app:1.0)

# ---- 1. attach to a single-platform image: the referrers tag schema --------
SOURCE_DATE_EPOCH=1700000000 attach --attach "docker://$R/app:1.0"
[ "$(jget "['attached'].__len__()")" = 1 ] || fail "one platform expected: $(cat "$WORK/conv.json")"
[ "$(jget "['attached'][0]['referrer']")" = tag-schema ] || fail "docker-registry 2.8 has no referrers API"
[ "$(jget "['attached'][0]['source_manifest']")" = "$orig" ] || fail "source manifest is not $orig"
[ "$(jget "['attached'][0]['platform']")" = linux/amd64 ] || fail "platform"
lad1=$(jget "['attached'][0]['manifest']")
[ "$(jget "['manifest']")" = "$lad1" ] || fail "top-level manifest is not the attached one"
[ "$(digest_of app:1.0)" = "$orig" ] || fail "the original tag moved"
get "app/manifests/sha256-${orig#sha256:}" $IDX >reftag.json || fail "no referrers tag sha256-${orig#sha256:}"
get "app/manifests/$lad1" application/vnd.oci.image.manifest.v1+json >lad1.json || fail "lading manifest not pushed by digest"
python3 - reftag.json lad1.json "$orig" "$lad1" <<'PY' || fail "referrer index or lading manifest wrong"
import hashlib, json, sys
idx, raw = json.load(open(sys.argv[1])), open(sys.argv[2], "rb").read()
man, orig, lad = json.loads(raw), sys.argv[3], sys.argv[4]
assert idx["mediaType"] == "application/vnd.oci.image.index.v1+json", idx
assert [d["digest"] for d in idx["manifests"]] == [lad], idx
d = idx["manifests"][0]
assert d["artifactType"] == "application/vnd.lading.image.v1", d
assert d["size"] == len(raw) and "sha256:" + hashlib.sha256(raw).hexdigest() == lad
assert d["annotations"] == man["annotations"], d
assert man["annotations"]["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z", man
assert man["annotations"]["io.lading.format"] == "lading.v1"
assert man["artifactType"] == "application/vnd.lading.image.v1"
assert man["subject"]["digest"] == orig, man["subject"]
assert man["subject"]["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
# published: the bootstrap layer travels zstd-compressed
assert sum(1 for l in man["layers"] if l["mediaType"] == "application/vnd.lading.bootstrap.v1.erofs+zstd") == 1
PY
log "ok: attached $lad1 to $orig (tag schema); the original tag is unchanged"

# re-attach: the same bytes are deduplicated, a newer one is added
SOURCE_DATE_EPOCH=1700000000 attach --attach "docker://$R/app:1.0"
[ "$(jget "['attached'][0]['manifest']")" = "$lad1" ] || fail "SOURCE_DATE_EPOCH: not reproducible"
SOURCE_DATE_EPOCH=1700000100 attach --attach "docker://$R/app:1.0"
lad2=$(jget "['attached'][0]['manifest']")
[ "$lad2" != "$lad1" ] || fail "a newer attach gave the same manifest"
get "app/manifests/sha256-${orig#sha256:}" $IDX >reftag.json || fail "referrers tag gone"
python3 - reftag.json "$lad1" "$lad2" <<'PY' || fail "re-attach: $(cat reftag.json)"
import json, sys
ds = [d["digest"] for d in json.load(open(sys.argv[1]))["manifests"]]
assert ds == sys.argv[2:], ds
PY
[ "$(digest_of app:1.0)" = "$orig" ] || fail "the original tag moved on re-attach"
# by digest: the same subject, the same bytes, nothing added
SOURCE_DATE_EPOCH=1700000000 attach --attach "docker://$R/app@$orig"
[ "$(jget "['attached'][0]['manifest']")" = "$lad1" ] || fail "attach by digest gave another manifest"
[ "$(get "app/manifests/sha256-${orig#sha256:}" $IDX | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["manifests"]))')" = 2 ] ||
	fail "attach by digest added an entry"
log "ok: re-attach deduplicated by digest, a newer manifest added"

# the lading image, pulled back by digest, mounted: umoci's tree
skopeo copy -q --src-tls-verify=false "docker://$R/app@$lad2" oci:pulled:l || fail "skopeo pull of $lad2"
mount_converted pulled l
treecmp ref-amd64/rootfs "$MNT"
unmount_image
log "ok: the attached image mounts and equals umoci unpack of the original"

# ---- 2. merge-index in the registry ------------------------------------
attach --merge-index "docker://$R/app:1.0-lading" "docker://$R/app:1.0"
merged=$(jget "['merged_index']")
[ "$(digest_of app:1.0-lading)" = "$merged" ] || fail "merged index digest is not $merged"
[ "$(jget "['attached'][0]['referrer']")" = None ] || fail "merge-index alone records no referrer"
lad3=$(jget "['attached'][0]['manifest']")
raw app:1.0-lading >merged.json
raw app:1.0 >orig.json
python3 - merged.json orig.json "$orig" "$lad3" <<'PY' || fail "merged index: $(cat merged.json)"
import json, sys
idx, raw = json.load(open(sys.argv[1])), open(sys.argv[2], "rb").read()
orig, lad = sys.argv[3], sys.argv[4]
assert idx["mediaType"] == "application/vnd.oci.image.index.v1+json"
m = idx["manifests"]
assert len(m) == 2, m
assert m[0] == {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": orig,
                "size": len(raw), "platform": {"os": "linux", "architecture": "amd64"}}, m[0]
assert m[1]["digest"] == lad and m[1]["artifactType"] == "application/vnd.lading.image.v1", m[1]
assert m[1]["platform"] == {"os": "linux", "architecture": "amd64", "os.features": ["lading.v1"]}, m[1]
assert "org.opencontainers.image.created" in m[1]["annotations"], m[1]
PY
# a runtime that does not know lading pulls the original, by digest
skopeo copy -q --src-tls-verify=false --override-os linux --override-arch amd64 \
	"docker://$R/app:1.0-lading" oci:merged:x || fail "skopeo copy of the merged index"
got=$(python3 -c "import json;print(json.load(open('merged/index.json'))['manifests'][0]['digest'])")
[ "$got" = "$orig" ] || fail "skopeo pulled $got from the merged index, not the original $orig"
umoci unpack --image merged:x merged-tree >/dev/null || fail "umoci unpack of the merged pull"
treecmp ref-amd64/rootfs merged-tree/rootfs
[ "$(digest_of app:1.0)" = "$orig" ] || fail "the original tag moved on merge-index"
log "ok: merged index $merged: skopeo and umoci get the original $orig"

# ---- 3. a two-platform index -------------------------------------------
skopeo copy -q --all --dest-tls-verify=false oci:img:multi "docker://$R/multi:1.0" || fail "skopeo copy --all"
morig=$(digest_of multi:1.0)
raw multi:1.0 >multi.json
attach --attach "docker://$R/multi:1.0"
python3 - "$WORK/conv.json" multi.json <<'PY' || fail "multi-platform attach: $(cat "$WORK/conv.json")"
import json, sys
rep, idx = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
want = {"%s/%s" % (d["platform"]["os"], d["platform"]["architecture"]): d["digest"] for d in idx["manifests"]}
got = {a["platform"]: a["source_manifest"] for a in rep["attached"]}
assert got == want, (got, want)
assert all(a["referrer"] == "tag-schema" for a in rep["attached"])
assert len({a["manifest"] for a in rep["attached"]}) == 2
for a in rep["attached"]:
    print(a["platform"], a["source_manifest"], a["manifest"])
PY
python3 - "$WORK/conv.json" <<'PY' >plats.txt
import json, sys
for a in json.load(open(sys.argv[1]))["attached"]:
    print(a["platform"].split("/")[1], a["source_manifest"], a["manifest"])
PY
while read -r arch src lad; do
	get "multi/manifests/sha256-${src#sha256:}" $IDX >t.json || fail "no referrers tag for $arch"
	get "multi/manifests/$lad" application/vnd.oci.image.manifest.v1+json >m.json || fail "no $lad"
	python3 -c "
import json,sys
t, m = json.load(open('t.json')), json.load(open('m.json'))
assert [d['digest'] for d in t['manifests']] == ['$lad'], t
assert m['subject']['digest'] == '$src', m['subject']" || fail "$arch: referrer or subject wrong"
	skopeo copy -q --src-tls-verify=false "docker://$R/multi@$lad" "oci:pulled:$arch" || fail "pull $arch"
	mount_converted pulled "$arch"
	treecmp "ref-$arch/rootfs" "$MNT"
	unmount_image
done <plats.txt
[ "$(digest_of multi:1.0)" = "$morig" ] || fail "the index tag moved"
log "ok: two platforms, one lading manifest each, each mounts as its platform's tree"
# --platform restricts to one
attach --attach "docker://$R/multi:1.0" --platform linux/arm64
[ "$(jget "['attached'].__len__()")" = 1 ] && [ "$(jget "['attached'][0]['platform']")" = linux/arm64 ] ||
	fail "--platform linux/arm64: $(cat "$WORK/conv.json")"
# --attach and --merge-index at once, in the registry
attach --attach "docker://$R/multi:1.0" --merge-index "docker://$R/multi:1.0-lading"
raw multi:1.0-lading >mmerged.json
python3 - mmerged.json multi.json "$WORK/conv.json" <<'PY' || fail "multi merged index: $(cat mmerged.json)"
import json, sys
m, o, rep = (json.load(open(f)) for f in sys.argv[1:])
assert m["manifests"][:2] == o["manifests"], m
assert [d["digest"] for d in m["manifests"][2:]] == [a["manifest"] for a in rep["attached"]]
assert all(a["referrer"] == "tag-schema" for a in rep["attached"])
PY
skopeo copy -q --src-tls-verify=false --override-os linux --override-arch arm64 \
	"docker://$R/multi:1.0-lading" oci:mm:arm64 || fail "skopeo copy arm64 of the merged index"
got=$(python3 -c "import json;print(json.load(open('mm/index.json'))['manifests'][0]['digest'])")
want=$(python3 -c "import json;print([d['digest'] for d in json.load(open('multi.json'))['manifests'] if d['platform']['architecture']=='arm64'][0])")
[ "$got" = "$want" ] || fail "arm64 from the merged index: $got, not the original $want"
[ "$(digest_of multi:1.0)" = "$morig" ] || fail "the index tag moved"

# ---- 4. merge-index into the layout (oci:) of a two-platform index --------
attach --merge-index oci:img:multi-lading oci:img:multi
python3 - img "$(jget "['merged_index']")" <<'PY' || fail "oci: merged index"
import json, sys
lay, mi = sys.argv[1], sys.argv[2]
idx = json.load(open(lay + "/index.json"))
blob = lambda d: json.load(open(lay + "/blobs/sha256/" + d.split(":")[1]))
ref = {d["annotations"]["org.opencontainers.image.ref.name"]: d for d in idx["manifests"]}
assert ref["multi-lading"]["digest"] == mi, ref["multi-lading"]
orig, merged = blob(ref["multi"]["digest"])["manifests"], blob(mi)["manifests"]
assert merged[:2] == orig, merged
assert [m["platform"]["os.features"] for m in merged[2:]] == [["lading.v1"]] * 2
assert [m["platform"]["architecture"] for m in merged[2:]] == [m["platform"]["architecture"] for m in orig]
for m in merged[2:]:
    assert blob(m["digest"])["subject"]["digest"] in [o["digest"] for o in orig]
PY
for arch in amd64 arm64; do
	skopeo copy -q --override-os linux --override-arch $arch oci:img:multi-lading "oci:mpull:$arch" ||
		fail "skopeo copy of oci:img:multi-lading ($arch)"
	want=$(python3 -c "import json;print([d['digest'] for d in json.load(open('multi.json'))['manifests'] if d['platform']['architecture']=='$arch'][0])")
	got=$(python3 -c "import json;print([d['digest'] for d in json.load(open('mpull/index.json'))['manifests'] if d['annotations']['org.opencontainers.image.ref.name']=='$arch'][0])")
	[ "$got" = "$want" ] || fail "$arch: skopeo took $got from the merged index, not the original $want"
	umoci unpack --image "mpull:$arch" "mtree-$arch" >/dev/null || fail "umoci unpack $arch"
	treecmp "ref-$arch/rootfs" "mtree-$arch/rootfs"
done
# a single manifest in a layout: its descriptor gets its config's platform
attach --merge-index oci:img:amd64-lading oci:img:amd64
skopeo copy -q --override-os linux --override-arch amd64 oci:img:amd64-lading oci:spull:x ||
	fail "skopeo copy of oci:img:amd64-lading"
got=$(python3 -c "import json;print(json.load(open('spull/index.json'))['manifests'][0]['digest'])")
[ "$got" = "$amd_orig" ] || fail "single merged: skopeo took $got, not $amd_orig"
log "ok: oci: merged indexes read by skopeo and umoci as the originals"

# ---- 5. refusals -----------------------------------------------------------
expect_fail() {
	local want_rc=$1 pat=$2 rc=0; shift 2
	"$LADING_CONVERT" "$@" >/dev/null 2>err.txt || rc=$?
	[ "$rc" = "$want_rc" ] || { cat err.txt >&2; fail "lading-convert $*: exit $rc, expected $want_rc"; }
	# usage errors (2) add the usual "Try --help" line
	[ "$(wc -l <err.txt)" = $((want_rc == 2 ? 2 : 1)) ] ||
		{ cat err.txt >&2; fail "lading-convert $*: not one line"; }
	grep -q -- "$pat" err.txt || fail "lading-convert $*: no '$pat' in: $(cat err.txt)"
	log "ok: $(head -n 1 err.txt)"
}
expect_fail 1 "docker://" --attach oci:img:amd64
expect_fail 1 "docker://" --attach img
expect_fail 2 "no other SRC" --attach "docker://$R/app:1.0" oci:out:x
expect_fail 1 "repository of" --plain-http --merge-index "docker://$R/other:1" "docker://$R/app:1.0"
expect_fail 1 "name a tag" --plain-http --merge-index "docker://$R/app" "docker://$R/app:1.0"
expect_fail 1 "not found" --plain-http --attach "docker://$R/nothere:1.0"
expect_fail 1 "no image for linux/s390x" --plain-http --attach "docker://$R/multi:1.0" --platform linux/s390x
[ "$(digest_of app:1.0)" = "$orig" ] && [ "$(digest_of multi:1.0)" = "$morig" ] || fail "a refusal moved a tag"
stop_registry

# ---- 6. the stub: referrers API, and a registry failing mid-way -----------
start_stub() {
	: >stub.log
	rm -f stub.port	# the last stub's port is not this one
	python3 "$here/../tools/oci_registry.py" 0 img-stub "$1" stub.log >stub.port &
	STUB_PID=$!
	REG_PID=$STUB_PID	# lib.sh's cleanup stops it, whatever happens
	for _ in $(seq 1 100); do
		SP=$(cat stub.port 2>/dev/null || true)
		[ -n "$SP" ] && return 0
		sleep 0.1
	done
	fail "oci_registry.py did not start"
}
stop_stub() { stop_registry; }
amd=$amd_orig
for m in referrers referrers-noheader; do
	start_stub $m
	attach --attach "docker://127.0.0.1:$SP/app:amd64"
	stub_orig=$(curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" "http://127.0.0.1:$SP/v2/app/manifests/amd64" | sha256sum | cut -d' ' -f1)
	[ "sha256:$stub_orig" = "$amd" ] || { stop_stub; fail "$m: the original tag moved"; }
	[ "$(jget "['attached'][0]['referrer']")" = referrers-api ] || { stop_stub; fail "$m: referrer is $(jget "['attached'][0]['referrer']")"; }
	lad=$(jget "['attached'][0]['manifest']")
	curl -sf "http://127.0.0.1:$SP/v2/app/referrers/$amd" >refs.json || { stop_stub; fail "$m: referrers GET"; }
	python3 -c "
import json
ds = [d['digest'] for d in json.load(open('refs.json'))['manifests'] if d['artifactType'] == 'application/vnd.lading.image.v1']
assert ds == ['$lad'], ds" || { stop_stub; fail "$m: referrers list"; }
	! grep -q "^PUT /v2/app/manifests/sha256-" stub.log || { stop_stub; fail "$m: a referrers tag was written"; }
	! grep -q "^PUT /v2/app/manifests/amd64 " stub.log || { stop_stub; fail "$m: the original tag was written"; }
	stop_stub
	log "ok: $m: recorded by the referrers API, no tag written"
done
# the registry refuses the referrer tag (after the lading manifest went in)
start_stub deny-tags
expect_fail 1 "HTTP 403" --plain-http --attach "docker://127.0.0.1:$SP/app:amd64"
stub_orig=$(curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" "http://127.0.0.1:$SP/v2/app/manifests/amd64" | sha256sum | cut -d' ' -f1)
[ "sha256:$stub_orig" = "$amd" ] || { stop_stub; fail "failed attach: the original tag moved"; }
! grep -q "^PUT /v2/app/manifests/amd64 " stub.log || { stop_stub; fail "failed attach wrote the original tag"; }
curl -sf "http://127.0.0.1:$SP/v2/app/manifests/sha256-${amd#sha256:}" >/dev/null &&
	{ stop_stub; fail "a referrers tag exists after the refusal"; }
stop_stub
log "ok: a registry refusing mid-way: one line, the original untouched"
