#!/bin/bash
# Image references on the node (issue #13): lading-fill mount, lading-prepare
# and lading-verify take docker://HOST/REPO[:TAG|@DIGEST] and oci:DIR[:REF]
# against Debian's docker-registry on 127.0.0.1.  A lading manifest is used
# as is (by tag, by digest); an ordinary image is found through its
# tag-schema referrer or an index alternative (written here, as the
# contract says); a referrer for another subject is refused; an image
# without a lading form gets one clear error; with the registry stopped, a
# restarted filler mounts from the cache and serves what is cached (EIO
# for the rest); two images sharing a blob fetch it once; --list reports.
. "$(dirname "$0")/lib.sh"
require_cmd python3 umoci skopeo curl
[ -n "${LADING_FILL:-}" ] || fail "LADING_FILL not set"
here=$(cd "$(dirname "$0")" && pwd)
cd "$WORK"

mkdir -p src/d src/e
seq 1 300000 >src/d/text
random_file src/rand 700000
random_file src/e/other 200000
echo small >src/d/small
tar -C src -cf l1.tar .
python3 "$here/make_oci.py" img v1 l1.tar
umoci unpack --image img:v1 ref >/dev/null

start_registry "$WORK/reg" || skip "docker-registry is not installed"
R=127.0.0.1:$REG_PORT
REG="--plain-http"
push() { skopeo copy -q --dest-tls-verify=false "oci:img:v1" "docker://$R/$1" || fail "skopeo push $1"; }
convert_ok oci:img:v1 "docker://$R/app:lading" $REG
lading_digest=$(jget "['manifest']")
push app:1.0

FILL_OPTS=$REG

# 1. a lading manifest by tag, then by digest: used as is
start_filler "docker://$R/app:lading" c-tag
treecmp ref/rootfs "$MNT"
stop_filler
[ "$(sget found_by)" = manifest ] || fail "by tag: found_by $(sget found_by)"
[ "$(sget manifest_digest)" = "$lading_digest" ] || fail "by tag: manifest $(sget manifest_digest)"
boot_digest=$(sget bootstrap_digest)
[ -f "c-tag/${boot_digest#sha256:}" ] || fail "the bootstrap is not in the cache by its digest"
start_filler "docker://$R/app@$lading_digest" c-digest
cmp src/rand "$MNT/rand" || fail "by digest: rand differs"
stop_filler
[ "$(sget found_by)" = manifest ] || fail "by digest: found_by $(sget found_by)"
log "ok: a lading manifest by tag and by digest"

# 2. the ordinary app:1.0, through its tag-schema referrer (two referrers:
#    the newest is chosen, whatever the order)
old=$(python3 "$here/referrer.py" attach "$R" app 1.0 lading --created 2025-01-01T00:00:00Z)
new=$(python3 "$here/referrer.py" attach "$R" app 1.0 lading --created 2026-06-01T00:00:00Z)
[ "$old" != "$new" ] || fail "the two referrers are one manifest"
subject=sha256:$(skopeo inspect --raw --tls-verify=false "docker://$R/app:1.0" | sha256sum | cut -d' ' -f1)
start_filler "docker://$R/app:1.0" c-ref
treecmp ref/rootfs "$MNT"
stop_filler
[ "$(sget found_by)" = tag-schema ] || fail "app:1.0: found_by $(sget found_by)"
[ "$(sget manifest_digest)" = "$new" ] || fail "app:1.0: chose $(sget manifest_digest), not the newest $new"
[ "$(sget subject_digest)" = "$subject" ] || fail "app:1.0: subject $(sget subject_digest)"
# the original tag is untouched
now=sha256:$(skopeo inspect --raw --tls-verify=false "docker://$R/app:1.0" | sha256sum | cut -d' ' -f1)
[ "$now" = "$subject" ] || fail "app:1.0 changed"
log "ok: ordinary image via its tag-schema referrer, newest chosen ($new)"

# 2b. a registry with the referrers API (a proxy in front): it goes first,
#     and an entry of another artifactType is filtered out
python3 "$here/referrers_proxy.py" "$REG_PORT" proxy.port &
proxy=$!
for _ in $(seq 1 50); do [ -s proxy.port ] && break; sleep 0.1; done
"$LADING_VERIFY" --json $REG "docker://127.0.0.1:$(cat proxy.port)/app:1.0" >vp.json 2>vp.err ||
	{ kill $proxy; fail "verify through the referrers API: $(cat vp.err)"; }
kill $proxy
wait $proxy 2>/dev/null || true
python3 -c "
import json; v = json.load(open('vp.json'))
assert v['found_by'] == 'referrers-api' and v['manifest_digest'] == '$new', v" ||
	fail "referrers API not used: $(cat vp.json)"
log "ok: referrers API first, other artifact types filtered"

# 3. an index alternative: idx:merged holds the original and the lading one
convert_ok oci:img:v1 "docker://$R/idx:lading" $REG
push idx:1.0
python3 "$here/referrer.py" merge "$R" idx 1.0 lading merged >/dev/null
start_filler "docker://$R/idx:merged" c-idx
treecmp ref/rootfs "$MNT"
stop_filler
[ "$(sget found_by)" = index ] || fail "idx:merged: found_by $(sget found_by)"
log "ok: index alternative"

# 3b. publisher to node, end to end: lading-convert --attach (a referrer)
#     and --merge-index alone (an index alternative) publish; the node
#     mounts the original tag and the merged one
push pub:1.0
"$LADING_CONVERT" -q $REG --attach "docker://$R/pub:1.0" >attach.out 2>attach.err ||
	fail "convert --attach: $(cat attach.err)"
start_filler "docker://$R/pub:1.0" c-pub
treecmp ref/rootfs "$MNT"
stop_filler
[ "$(sget found_by)" = tag-schema ] || fail "pub:1.0: found_by $(sget found_by)"
push pub2:1.0
"$LADING_CONVERT" -q $REG --merge-index "docker://$R/pub2:1.0-lazy" \
	"docker://$R/pub2:1.0" >merge.out 2>merge.err ||
	fail "convert --merge-index: $(cat merge.err)"
start_filler "docker://$R/pub2:1.0-lazy" c-pub-merged
treecmp ref/rootfs "$MNT"
stop_filler
[ "$(sget found_by)" = index ] || fail "pub2:1.0-lazy: found_by $(sget found_by)"
log "ok: lading-convert --attach / --merge-index, then lading-fill mount of what they published"

# 4. refusals: a referrer for another subject; no lading form at all
convert_ok oci:img:v1 "docker://$R/bad:lading" $REG
push bad:1.0
python3 "$here/referrer.py" attach "$R" bad 1.0 lading \
	--subject "sha256:$(printf other | sha256sum | cut -d' ' -f1)" >/dev/null
mkdir -p mnt.bad
if "$LADING_FILL" mount --backend fanotify $REG "docker://$R/bad:1.0" mnt.bad --cache c-bad 2>bad.err; then
	fail "a referrer for another subject was mounted"
fi
grep -q "refused" bad.err || fail "the refusal does not say so: $(cat bad.err)"
grep -q "no lading form" bad.err || fail "no clear error: $(cat bad.err)"
push plain:1.0
if "$LADING_FILL" mount --backend fanotify $REG "docker://$R/plain:1.0" mnt.bad --cache c-bad 2>plain.err; then
	fail "an image without a lading form was mounted"
fi
[ "$(grep -c . plain.err)" = 1 ] || fail "not one line: $(cat plain.err)"
grep -q "docker://$R/plain:1.0: no lading form" plain.err || fail "unclear: $(cat plain.err)"
! grep -q " $WORK/mnt.bad " /proc/mounts || fail "mounted after a refusal"
# a bootstrap path has no repository: --source is needed, and nothing is laid out
boot=c-tag/${boot_digest#sha256:}
if "$LADING_FILL" mount --backend fanotify "$boot" mnt.bad --cache c-nosrc 2>nosrc.err; then
	fail "a bootstrap path mounted without --source"
fi
grep -q "no blob source: give --source" nosrc.err || fail "unclear: $(cat nosrc.err)"
[ ! -e c-nosrc ] || fail "c-nosrc laid out without a source"
log "ok: refused: $(cat plain.err)"

# 5. verify REF: the registry (structure and the blobs, in the registry) and oci:
"$LADING_VERIFY" --json $REG "docker://$R/app:1.0" >v.json 2>v.err || fail "verify docker://: $(cat v.err)"
python3 - v.json "$new" <<'PY' || fail "verify docker:// report"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["status"] == "ok" and v["found_by"] == "tag-schema", v
assert v["manifest_digest"] == sys.argv[2] and v["structure_ok"], v
assert v["blob_ids"] and v["blobs_checked"] and v["blob_bytes_fetched"] > 0, v
assert all(b["status"] == "ok" for b in v["blobs"]), v["blobs"]
PY
convert_ok oci:img:v1 oci:lay:lading
"$LADING_VERIFY" --json oci:lay:lading >v2.json 2>v2.err || fail "verify oci:: $(cat v2.err)"
python3 -c "
import json; v = json.load(open('v2.json'))
assert v['found_by'] == 'manifest' and v['blobs_checked'], v
assert all(b['status'] == 'ok' for b in v['blobs']), v['blobs']" || fail "verify oci: report"
start_filler oci:lay:lading c-oci
treecmp ref/rootfs "$MNT"
stop_filler
[ "$(sget repository)" = "$(realpath lay)/blobs/sha256" ] || fail "oci: repository $(sget repository)"
log "ok: lading-verify docker://… and oci:…; lading-fill mount oci:…"

# 6. prepare REF; the offline restart.  The filler reads one file, the
#    registry stops, a new filler mounts from the cache: cached data reads
#    back equal, the rest is EIO, never zeros.
"$LADING_PREPARE" --json $REG "docker://$R/app:1.0" c-off >p.json 2>p.err || fail "prepare: $(cat p.err)"
[ "$(python3 -c "import json;print(json.load(open('p.json'))['found_by'])")" = tag-schema ] ||
	fail "prepare: $(cat p.json)"
start_filler "docker://$R/app:1.0" c-off
cmp src/rand "$MNT/rand" || fail "rand differs"
stop_filler
stop_registry
start_filler "docker://$R/app:1.0" c-off --timeout 5
grep -q "using the cached resolution" "$ERR" || fail "no warning about the cached resolution: $(cat "$ERR")"
[ "$(grep -c "using the cached resolution" "$ERR")" = 1 ] || fail "more than one warning"
cmp src/rand "$MNT/rand" || fail "offline: cached rand differs"
if cat "$MNT/d/text" >offline.out 2>offline.err; then
	fail "offline: uncached data was served"
fi
grep -qi "input/output error" offline.err || fail "offline: not EIO: $(cat offline.err)"
stop_filler
[ "$(sget resolution_cached)" = True ] || fail "the report does not say the resolution was cached"
log "ok: registry stopped: mounted from the cache, cached data equal, the rest EIO"

# 7. shared blobs: B is converted with A as its chunk dictionary, so it
#    lists A's blob; prepared into one cache, B fetches only its own
mkdir -p srcb
cp src/rand srcb/rand
random_file srcb/own 300000
tar -C srcb -cf lb.tar .
python3 "$here/make_oci.py" imgb v1 lb.tar
convert_ok oci:img:v1 oci:sa:v1
dictboot=$(manifest_layers sa v1 | tail -1)
convert_ok oci:imgb:v1 oci:sb:v1 --chunk-dict "$dictboot"
"$LADING_PREPARE" --json --seed oci:sa:v1 c-shared >pa.json 2>pa.err || fail "prepare A: $(cat pa.err)"
"$LADING_PREPARE" --json --seed oci:sb:v1 c-shared >pb.json 2>pb.err || fail "prepare B: $(cat pb.err)"
python3 - pa.json pb.json <<'PY' || fail "shared blobs fetched twice"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
ida = {x["id"] for x in a["blobs"]}
shared = [x for x in b["blobs"] if x["id"] in ida]
assert shared, "B shares no blob with A"
for x in shared:
    assert x["fetched"] == 0 and x["present_before"] == x["present"] > 0, x
own = sum(x["fetched"] for x in b["blobs"] if x["id"] not in ida)
assert b["bytes_fetched"] == own, (b["bytes_fetched"], own)
print("A fetched %d, B fetched %d (shared %d bytes not fetched again)" % (
    a["bytes_fetched"], b["bytes_fetched"], sum(x["present"] for x in shared)),
    file=sys.stderr)
PY
# the same through the filler: B's reads of what A's blob holds fetch nothing
start_filler oci:sa:v1 c-fshared
cmp src/rand "$MNT/rand" || fail "A: rand differs"
stop_filler
a_fetched=$(sget bytes_fetched)
start_filler oci:sb:v1 c-fshared
cmp srcb/rand "$MNT/rand" || fail "B: rand differs"
stop_filler
[ "$(sget bytes_fetched)" = 0 ] || fail "B fetched $(sget bytes_fetched) bytes of a blob A had filled"
start_filler oci:sb:v1 c-fshared
cmp srcb/own "$MNT/own" || fail "B: own differs"
stop_filler
b_fetched=$(sget bytes_fetched)
[ "$b_fetched" -ge 300000 ] && [ "$b_fetched" -le $((300000 + 65536)) ] ||
	fail "B's own file: $b_fetched bytes fetched"
log "ok: shared blobs fetched once (prepare; filler: A $a_fetched, B 0 for the shared file, $b_fetched for its own)"

# 8. --list: each image with its references, each blob once, sizes, complete
"$LADING_PREPARE" --list --json c-shared >l.json || fail "--list"
"$LADING_PREPARE" --list --json c-off >l2.json || fail "--list"
python3 - l.json l2.json "docker://$R/app:1.0" <<'PY' || fail "--list figures"
import json, os, sys
l = json.load(open(sys.argv[1]))
assert len(l["images"]) == 2, l["images"]
ids = [b["id"] for b in l["blobs"]]
assert len(ids) == len(set(ids)) == 2, ids
for b in l["blobs"]:
    st = os.stat(b["path"])
    assert b["size"] == st.st_size and b["allocated"] == st.st_blocks * 512, b
    assert b["complete"], b
assert all(im["complete"] and im["references"] for im in l["images"]), l["images"]
l2 = json.load(open(sys.argv[2]))
assert l2["images"][0]["references"] == [sys.argv[3]], l2["images"]
b = l2["blobs"][0]
assert not b["complete"] and 0 < b["chunks_present"] < b["chunks"], b
assert b["allocated"] < b["size"], b
PY
"$LADING_PREPARE" --list c-off >l.txt || fail "--list"
grep -q "incomplete" l.txt || fail "--list does not say incomplete: $(cat l.txt)"
log "ok: --list"
