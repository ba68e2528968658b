#!/bin/bash
# Resolving oci:DIR[:REF] (issue #13), no registry, no mount: lading-verify
# and lading-prepare on layouts that hold an ordinary image and lading forms
# attached as the contract says.  Several candidates: the newest created
# wins, ties go to the smallest digest; a candidate for another subject is
# refused; an index alternative is found for the chosen platform only; an
# image without a lading form fails in one line naming it.
NEEDS_MOUNT=0
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
cd "$WORK"

mkdir -p src/d
seq 1 50000 >src/d/text
random_file src/rand 100000
tar -C src -cf l1.tar .
python3 "$here/make_oci.py" img v1 l1.tar
convert_ok oci:img:v1 oci:img:lading
cp -a img merged
cp -a img bad
cp -a img none

vjson() { # vjson OUT ARGS...: lading-verify --json, exit status kept in $vrc
	local out=$1; shift
	vrc=0
	"$LADING_VERIFY" --json "$@" >"$out" 2>"$out.err" || vrc=$?
}
key() { python3 -c "import json;v=json.load(open('$1')).get('$2');print('' if v is None else v)"; }

# 1. a lading manifest named in the layout: as is
vjson v0.json oci:img:lading
[ $vrc = 0 ] && [ "$(key v0.json found_by)" = manifest ] || fail "oci:img:lading: $(cat v0.json.err)"

# 2. three candidates in the tag schema: 2025, and two of 2026
a=$(python3 "$here/oci_attach.py" img v1 lading attach --created 2025-05-01T00:00:00Z --salt a)
b=$(python3 "$here/oci_attach.py" img v1 lading attach --created 2026-05-01T00:00:00Z --salt b)
c=$(python3 "$here/oci_attach.py" img v1 lading attach --created 2026-05-01T00:00:00Z --salt c)
want=$(printf '%s\n%s\n' "$b" "$c" | sort | head -1)
vjson v1.json oci:img:v1
[ $vrc = 0 ] || fail "oci:img:v1: $(cat v1.json.err)"
[ "$(key v1.json found_by)" = tag-schema ] || fail "found_by $(key v1.json found_by)"
[ "$(key v1.json manifest_digest)" = "$want" ] ||
	fail "chose $(key v1.json manifest_digest); want the newest, smallest digest $want (of $a $b $c)"
[ "$(key v1.json blobs_checked)" = True ] || fail "the layout's blobs were not checked"
log "ok: newest created wins, the tie to the smallest digest ($want)"

# 3. the same with lading-prepare, which records the reference
"$LADING_PREPARE" --json --seed oci:img:v1 cache >p.json 2>p.err || fail "prepare: $(cat p.err)"
[ "$(key p.json manifest_digest)" = "$want" ] || fail "prepare chose $(key p.json manifest_digest)"
"$LADING_PREPARE" --list --json cache >l.json || fail "--list"
python3 - l.json "oci:img:v1" <<'PY' || fail "--list after prepare --seed"
import json, sys
l = json.load(open(sys.argv[1]))
(im,) = l["images"]
assert im["references"] == [sys.argv[2]] and im["complete"], im
assert all(b["complete"] and b["allocated"] >= b["size"] for b in l["blobs"]), l["blobs"]
PY
log "ok: prepare --seed oci:…, --list"

# 4. refused: only a candidate for another subject
python3 "$here/oci_attach.py" bad v1 lading attach \
	--subject "sha256:$(printf x | sha256sum | cut -d' ' -f1)" >/dev/null
vjson v2.json oci:bad:v1
[ $vrc = 2 ] || fail "a referrer for another subject: exit $vrc"
grep -q "no lading form" v2.json.err && grep -q "another subject" v2.json.err ||
	fail "refusal unclear: $(cat v2.json.err)"
grep -q "refused: its subject is sha256:" v2.json.err || fail "no warning naming the subject"

# 5. no lading form at all: one line naming the reference
vjson v3.json oci:none:v1
[ $vrc = 2 ] || fail "no lading form: exit $vrc"
[ "$(grep -c . v3.json.err)" = 1 ] || fail "not one line: $(cat v3.json.err)"
grep -q "^lading-verify: error: oci:none:v1: no lading form for " v3.json.err ||
	fail "unclear: $(cat v3.json.err)"
log "ok: refused ($(cat v3.json.err))"

# 6. an index alternative, for the host's platform only
python3 "$here/oci_attach.py" merged v1 lading merge both >/dev/null
vjson v4.json oci:merged:both
[ $vrc = 0 ] && [ "$(key v4.json found_by)" = index ] || fail "index alternative: $(cat v4.json.err)"
vjson v5.json --platform linux/s390x oci:merged:both
[ $vrc = 2 ] && grep -q "has no image for linux/s390x" v5.json.err ||
	fail "another platform: exit $vrc: $(cat v5.json.err)"
log "ok: index alternative, platform checked"

# 7. --list of cachefiles layouts: a reference's bootstrap kept beside the
#    tree, and a bootstrap path's found among the volume's objects
boot=$(python3 -c "
import json
m = json.load(open('img/index.json'))['manifests']
d = [x for x in m if x.get('annotations', {}).get('org.opencontainers.image.ref.name') == 'lading'][0]
man = json.load(open('img/blobs/sha256/' + d['digest'][7:]))
print([l for l in man['layers'] if l['mediaType'].endswith('bootstrap.v1.erofs')][0]['digest'][7:])")
"$LADING_PREPARE" -q --layout cachefiles --fsid t1 --seed oci:img:lading cf1 || fail "prepare cachefiles REF"
"$LADING_PREPARE" -q --layout cachefiles --fsid t2 --seed-from img/blobs/sha256 \
	"img/blobs/sha256/$boot" cf2 || fail "prepare cachefiles path"
for d in cf1 cf2; do
	"$LADING_PREPARE" --list --json $d >$d.json || fail "--list $d"
	python3 - $d.json "$boot" <<'PY' || fail "--list $d: $(cat $d.json)"
import json, sys
l = json.load(open(sys.argv[1]))
assert l["layout"] == "cachefiles", l
(im,) = l["images"]
assert im["bootstrap_id"] == sys.argv[2] and im["complete"] and im["bootstrap_path"], im
assert all(b["path"] and "/cache/I" in b["path"] and b["complete"] for b in l["blobs"]), l
PY
done
log "ok: --list of cachefiles layouts"

# 8. a damaged bootstrap blob is refused against its descriptor, and
#    nothing lands in the cache under its name
cp -a img dmg
flip_bytes "dmg/blobs/sha256/$boot" 2000 1
if "$LADING_PREPARE" oci:dmg:lading cache2 2>dmg.err; then fail "a damaged bootstrap was accepted"; fi
grep -q "not what its descriptor says" dmg.err || fail "unclear: $(cat dmg.err)"
[ ! -e "cache2/$boot" ] || fail "the damaged bootstrap reached the cache"
[ -z "$(ls -A cache2 2>/dev/null | grep -v '^\.lading-tmp' || true)" ] || fail "cache2 holds $(ls -A cache2)"
log "ok: damaged bootstrap refused"
