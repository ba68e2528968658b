#!/bin/bash
# lading-convert against hostile OCI layouts, and what a failure leaves.
# A layer blob that is a symlink to /dev/zero or a FIFO is refused at once
# (no hang); a blob larger or smaller than its descriptor says, and
# descriptor sizes that are strings, reals, negative, beyond 2^63 or off
# by one, are errors naming the layer.  After every failure the
# destination (new or existing, oci: or dir:, an OCI layout holding
# another image) is exactly as before: a new one does not exist.  A
# convert killed with -9 leaves .lading-tmp-* behind; the next run
# removes those whose writer is dead and keeps those whose writer lives
# (it holds an flock); lading-mkimage and lading-prepare do the same in
# their output directories.
NEEDS_MOUNT=0
. "$(dirname "$0")/lib.sh"
require_cmd python3 timeout
[ -n "${LADING_CONVERT:-}" ] || fail "LADING_CONVERT not set"
here=$(cd "$(dirname "$0")" && pwd)
cd "$WORK"

# two layers: the failing one is the last, so the first one's blob has
# been written by then
mkdir -p r1/d r2
random_file r1/d/big 2000000
echo one >r1/one
echo two >r2/two
tar -C r1 -cf l1.tar .
tar -C r2 -cf l2.tar .
python3 "$here/make_oci.py" src v1 l1.tar l2.tar
python3 "$here/make_oci.py" other base l2.tar

# the source's manifest, and its last layer's blob
man_path() { python3 -c "import json;print('$1/blobs/sha256/'+json.load(open('$1/index.json'))['manifests'][-1]['digest'][7:])"; }
last_layer() { python3 -c "import json;print(json.load(open('$(man_path "$1")'))['layers'][-1]['digest'][7:])"; }
L2=$(last_layer src)

# snapshot DIR: every entry's name, type, size, mode and content hash
snapshot() {
	if [ ! -e "$1" ]; then echo absent; return; fi
	(cd "$1" && find . -printf '%p %y %s %m\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# destinations: absent ones, and existing ones holding another image
"$LADING_CONVERT" -q oci:other:base oci:dst-oci:base || fail "setting up dst-oci"
"$LADING_CONVERT" -q oci:other:base dir:dst-dir || fail "setting up dst-dir"
cp -a dst-oci pristine-oci

# expect_fail LABEL PATTERN SRC: every kind of destination unchanged
expect_fail() {
	local label=$1 pat=$2 src=$3 dst rc before
	for dst in oci:new-oci:v1 dir:new-dir oci:dst-oci:v1 dir:dst-dir; do
		before=$(snapshot "$(echo "${dst#*:}" | cut -d: -f1)")
		rc=0
		timeout 30 "$LADING_CONVERT" -q "$src" "$dst" >out 2>err || rc=$?
		[ $rc != 124 ] || fail "$label -> $dst: hangs"
		[ $rc = 1 ] || fail "$label -> $dst: exit $rc (want 1): $(cat err)"
		[ "$(wc -l <err)" = 1 ] || fail "$label -> $dst: not one line: $(cat err)"
		grep -q -- "$pat" err || fail "$label -> $dst: no '$pat' in: $(cat err)"
		[ "$(snapshot "$(echo "${dst#*:}" | cut -d: -f1)")" = "$before" ] ||
			fail "$label -> $dst: the destination changed"
		ls -A | grep -q '^\.lading-tmp' && fail "$label -> $dst: leftovers: $(ls -A)"
	done
	log "ok: $label: $(cat err)"
}

# ---- the layer blob itself --------------------------------------------------
fresh() { rm -rf bad; cp -a src bad; }
fresh; rm bad/blobs/sha256/$L2; ln -s /dev/zero bad/blobs/sha256/$L2
expect_fail "symlink to /dev/zero" "not a regular file" oci:bad:v1
fresh; rm bad/blobs/sha256/$L2; mkfifo bad/blobs/sha256/$L2
expect_fail "FIFO" "not a regular file" oci:bad:v1
fresh; head -c 5000 /dev/urandom >>bad/blobs/sha256/$L2
expect_fail "blob too large" "$L2.*bytes, its descriptor gives" oci:bad:v1
fresh; truncate -s 100 bad/blobs/sha256/$L2
expect_fail "blob too small" "$L2.*bytes, its descriptor gives" oci:bad:v1
# a symlink to a regular file holding the right bytes is fine (the digest
# is checked all the same)
fresh; mv bad/blobs/sha256/$L2 bad/real; ln -s ../../real bad/blobs/sha256/$L2
"$LADING_CONVERT" -q oci:bad:v1 oci:sym-ok || fail "a blob symlinked to a regular file"

# ---- descriptor sizes -------------------------------------------------------
# set_size LAYOUT VALUE: the last layer's descriptor size becomes VALUE
# (JSON text), the manifest rewritten under its new digest
set_size() {
	python3 - "$1" "$2" <<'EOF'
import hashlib, json, os, re, sys
lay, v = sys.argv[1], sys.argv[2]
idx = json.load(open(lay + "/index.json"))
d = idx["manifests"][-1]
p = lay + "/blobs/sha256/" + d["digest"][7:]
man = json.load(open(p))
man["layers"][-1]["size"] = "@SIZE@"
t = json.dumps(man).replace('"@SIZE@"', v).encode()
h = hashlib.sha256(t).hexdigest()
open(lay + "/blobs/sha256/" + h, "wb").write(t)
d["digest"], d["size"] = "sha256:" + h, len(t)
json.dump(idx, open(lay + "/index.json", "w"))
EOF
}
size=$(stat -c %s src/blobs/sha256/$L2)
for v in "\"$size\"" "$size.0" 3e5 -1 -$size; do
	fresh; set_size bad "$v"
	expect_fail "size $v" "layer 2 (sha256:$L2): size is" oci:bad:v1
done
fresh; set_size bad 18446744073709551616
expect_fail "size 2^64" "too big integer" oci:bad:v1
for v in $((size + 1)) $((size - 1)) 0; do
	fresh; set_size bad "$v"
	expect_fail "size $v (real $size)" "$L2.*bytes, its descriptor gives $v" oci:bad:v1
done
# a manifest or config whose descriptor size is off
fresh; python3 - bad <<'EOF'
import json, sys
lay = sys.argv[1]
idx = json.load(open(lay + "/index.json"))
idx["manifests"][-1]["size"] += 1
json.dump(idx, open(lay + "/index.json", "w"))
EOF
expect_fail "manifest size off" "digest or size mismatch" oci:bad:v1
fresh; python3 - bad <<'EOF'
import json, sys
lay = sys.argv[1]
idx = json.load(open(lay + "/index.json"))
idx["manifests"][-1]["size"] = 1.5
json.dump(idx, open(lay + "/index.json", "w"))
EOF
expect_fail "manifest size real" "manifest sha256:.*: size is a real number" oci:bad:v1
# index.json that is a FIFO: refused, not waited on
fresh; rm bad/index.json; mkfifo bad/index.json
expect_fail "index.json FIFO" "index.json: not a regular file" oci:bad:v1

# ---- a destination whose index.json cannot be updated: nothing written ----
cp -a pristine-oci badidx; echo '{"manifests": 3}' >badidx/index.json
before=$(snapshot badidx)
rc=0; "$LADING_CONVERT" -q oci:src:v1 oci:badidx:v1 2>err || rc=$?
[ $rc = 1 ] && grep -q "no manifests array" err || fail "bad DST index: exit $rc: $(cat err)"
[ "$(snapshot badidx)" = "$before" ] || fail "bad DST index: the destination changed"
log "ok: $(cat err)"

# ---- a successful run into the existing layout keeps the other image ---------
"$LADING_CONVERT" -q oci:src:v1 oci:dst-oci:v1 || fail "convert into dst-oci"
python3 - dst-oci <<'EOF' || fail "dst-oci lost an image"
import json, sys
names = sorted(m["annotations"]["org.opencontainers.image.ref.name"]
               for m in json.load(open(sys.argv[1] + "/index.json"))["manifests"])
assert names == ["base", "v1"], names
EOF

# ---- leftovers of a killed writer ------------------------------------------
# a live writer's temporary (flock held) and a dead one's (none)
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "w"); fcntl.flock(f, fcntl.LOCK_EX); time.sleep(300)' \
	dst-oci/blobs/sha256/.lading-tmp-live &
holder=$!
for _ in $(seq 50); do [ -e dst-oci/blobs/sha256/.lading-tmp-live ] && break; sleep 0.1; done
echo stale >dst-oci/blobs/sha256/.lading-tmp-dead
# a convert killed with -9 in the middle: a dir: layer it reads from a
# FIFO, fed half
mkfifo slow.tar
"$LADING_CONVERT" -q dir:. --layer slow.tar oci:dst-oci:v2 2>err &
conv=$!
exec 3>slow.tar
head -c 1000000 l1.tar >&3
for _ in $(seq 100); do
	ls -A dst-oci | grep -q '^\.lading-tmp' && break
	sleep 0.1
done
kill -9 $conv; wait $conv 2>/dev/null || true
exec 3>&-
ls -A dst-oci | grep -q '^\.lading-tmp' || fail "no staging directory while converting"
log "after kill -9: $(cd dst-oci && find . -name '.lading-tmp*' | tr '\n' ' ')"
"$LADING_CONVERT" -q oci:src:v1 oci:dst-oci:v3 || fail "rerun after kill -9"
left=$(cd dst-oci && find . -name '.lading-tmp*' | LC_ALL=C sort | tr '\n' ' ')
[ "$left" = "./blobs/sha256/.lading-tmp-live " ] ||
	fail "after the rerun: '$left' (want only the live writer's temporary)"
log "ok: the rerun removed the dead writers' leftovers, kept the live one's"
# a new destination killed mid-way: its staging directory is beside it
mkfifo slow2.tar
"$LADING_CONVERT" -q dir:. --layer slow2.tar oci:new-killed 2>err &
conv=$!
exec 3>slow2.tar
head -c 1000000 l1.tar >&3
for _ in $(seq 100); do ls -A | grep -q '^\.lading-tmp-new-killed' && break; sleep 0.1; done
kill -9 $conv; wait $conv 2>/dev/null || true
exec 3>&-
ls -A | grep -q '^\.lading-tmp-new-killed' || fail "no staging directory beside a new DST"
[ ! -e new-killed ] || fail "a killed run made its new destination"
"$LADING_CONVERT" -q oci:src:v1 oci:new-killed || fail "rerun into new-killed"
ls -A | grep -q '^\.lading-tmp' && fail "leftovers beside new-killed: $(ls -A)"
kill $holder; wait $holder 2>/dev/null || true
log "ok: a new destination's staging directory is removed by the rerun"

# lading-mkimage and lading-prepare: a dead writer's temporary goes
mkdir -p mk && echo stale >mk/.lading-tmp-dead
"$LADING_MKIMAGE" -q mk/boot r2 || fail "mkimage"
[ ! -e mk/.lading-tmp-dead ] || fail "mkimage left a dead writer's temporary"
if [ -n "${LADING_PREPARE:-}" ]; then
	mkdir -p cache && echo stale >cache/.lading-tmp-dead
	"$LADING_PREPARE" -q mk/boot cache || fail "prepare"
	[ ! -e cache/.lading-tmp-dead ] || fail "prepare left a dead writer's temporary"
fi
log "ok: mkimage and prepare remove dead writers' temporaries"
