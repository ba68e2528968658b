#!/bin/bash
# The tools' --json reports share one vocabulary (man pages, REPORT): the
# same key means the same thing in every tool, so the figures of one run
# agree across mkimage, verify, prepare and convert; every report is
# strict UTF-8 JSON, a path that is not UTF-8 included (its bytes as the
# text \xHH); --json, --no-progress, -v and -q are accepted by every tool.
. "$(dirname "$0")/lib.sh"
require_cmd python3
here=$(cd "$(dirname "$0")" && pwd)

# keys KEYS... FILE: every key is at the top level of the report
keys() {
	python3 - "$@" <<'PY' || fail "report ${@: -1}: keys missing"
import json, sys
doc = json.loads(open(sys.argv[-1], "rb").read().decode("utf-8"))
missing = [k for k in sys.argv[1:-1] if k not in doc]
if missing:
    sys.exit("missing %s in %s" % (missing, sorted(doc)))
PY
}

src=$WORK/src
mkdir -p "$src/d"
echo small >"$src/d/small"
head -c 300000 /dev/urandom >"$src/big"
truncate -s 8M "$src/sparse"		# holes, not data
echo tail >>"$src/sparse"
ln -s d/small "$src/link"

# a bootstrap path that is not UTF-8: the report stays UTF-8, the name visible
out=$WORK/$'out\xff'
mkdir -p "$out"
"$LADING_MKIMAGE" --json --no-progress -C 64K "$out/boot" "$src" >"$WORK/mk.json" ||
	fail "mkimage --json"
keys bootstrap_path bootstrap_id bootstrap_size blob_id files chunks chunks_new \
	chunks_holes chunks_deduplicated "$WORK/mk.json"
python3 - "$WORK/mk.json" <<'PY' || fail "mkimage: bootstrap_path not escaped as \\xff"
import json, sys
doc = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
assert doc["bootstrap_path"].endswith("out\\xff/boot"), doc["bootstrap_path"]
assert "bootstrap" not in doc and "bootstrap_sha256" not in doc, sorted(doc)
PY
[ "$(json_get "$WORK/mk.json" bootstrap_id)" = "$(sha256sum <"$out/boot" | cut -d' ' -f1)" ] ||
	fail "bootstrap_id is not the bootstrap's sha256"

"$LADING_VERIFY" --json --no-progress --source "$src" "$out/boot" >"$WORK/v.json" ||
	fail "verify --json"
keys status files chunks chunks_holes blobs problems "$WORK/v.json"
for k in files chunks chunks_holes inodes; do
	[ "$(json_get "$WORK/mk.json" $k)" = "$(json_get "$WORK/v.json" $k)" ] ||
		fail "$k: mkimage says $(json_get "$WORK/mk.json" $k), verify $(json_get "$WORK/v.json" $k)"
done
[ "$(json_get "$WORK/mk.json" chunks_holes)" -ge 1 ] || fail "no hole chunks counted"

"$LADING_PREPARE" --json --no-progress --seed-from "$out" "$out/boot" "$WORK/cache" \
	>"$WORK/p.json" || fail "prepare --json"
keys status layout bootstrap_id bootstrap_path blobs "$WORK/p.json"
[ "$(json_get "$WORK/p.json" bootstrap_id)" = "$(json_get "$WORK/mk.json" bootstrap_id)" ] ||
	fail "bootstrap_id: prepare and mkimage differ"
python3 - "$WORK/p.json" "$WORK/v.json" <<'PY' || fail "blob ids differ between prepare and verify"
import json, sys
p, v = (json.load(open(f)) for f in sys.argv[1:])
assert [b["id"] for b in p["blobs"]] == [b["id"] for b in v["blobs"]]
PY

# convert: bootstrap_digest is "sha256:" and the bootstrap's id
tar -C "$src" -cf "$WORK/layer.tar" .
python3 "$here/make_oci.py" "$WORK/img" v1 --compress none "$WORK/layer.tar" >/dev/null ||
	fail "make_oci.py"
"$LADING_CONVERT" --json --no-progress "oci:$WORK/img:v1" "dir:$WORK/conv" >"$WORK/c.json" ||
	fail "convert --json"
keys bootstrap_digest bootstrap_size manifest config layers blob_ids inodes "$WORK/c.json"
python3 - "$WORK/c.json" "$WORK/conv" <<'PY' || fail "convert: keys of the vocabulary"
import hashlib, json, os, sys
doc = json.load(open(sys.argv[1]))
d = doc["bootstrap_digest"]
assert d.startswith("sha256:"), d
boot = open(os.path.join(sys.argv[2], d[7:]), "rb").read()
assert hashlib.sha256(boot).hexdigest() == d[7:]
assert len(boot) == doc["bootstrap_size"]
l = doc["layers"][0]
for k in ("source_digest", "source_size", "blob_id", "blob_size",
          "blob_uncompressed_size", "chunks_new", "chunks_deduplicated"):
    assert k in l, (k, sorted(l))
assert doc["blob_ids"] == [l["blob_id"]], doc["blob_ids"]
assert l["blob_size"] == os.path.getsize(os.path.join(sys.argv[2], l["blob_id"]))
PY

# the shared options, in every tool
for t in "$LADING_MKIMAGE" "$LADING_VERIFY" "$LADING_PREPARE" "$LADING_CONVERT" "$LADING_FILL"; do
	"$t" --json --no-progress -v -q --help >/dev/null ||
		fail "$(basename "$t"): --json --no-progress -v -q not all accepted"
done
log "ok: one vocabulary across mkimage, verify, prepare and convert"
