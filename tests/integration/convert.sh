#!/bin/bash
# lading-convert end to end.  Reference for layer semantics: umoci unpack
# of the same source image (a tool nobody here wrote); the kernel mounts
# the merged bootstrap with every blob as device= and must show exactly
# that tree.  Also: three source transports give identical outputs;
# lading-verify accepts the result against the merged tree; chunk
# dictionaries deduplicate across images; bad input leaves DST untouched;
# a skopeo round trip through Debian's docker-registry on 127.0.0.1.
. "$(dirname "$0")/lib.sh"
require_cmd python3 umoci skopeo
[ -n "${LADING_CONVERT:-}" ] || fail "LADING_CONVERT not set"
here=$(cd "$(dirname "$0")" && pwd)


# ---- 1. a multi-layer image made with umoci ----------------------------
cd "$WORK"
umoci init --layout img
umoci new --image img:v1
umoci unpack --image img:v1 b >/dev/null
r=b/rootfs
mkdir -p $r/etc $r/d1/sub $r/d2 $r/opq $r/repl $r/many "$r/dïr"
echo hello >$r/etc/hello
seq 1 300000 >$r/d1/sub/big
echo x >$r/d2/x
ln -s ../etc/hello $r/rel-link
ln -s /etc/hello $r/abs-link
ln -s /nonexistent $r/dangling
ln -s "$(long_name t 1000)" $r/long-link
echo ñ >"$r/dïr/ñame"
echo long >"$r/$(long_name n 200)"
echo a >$r/opq/a; echo b >$r/opq/b
echo r >$r/repl/inside
echo r2 >$r/repl2
echo meta >$r/meta
setfattr -n user.note -v hi $r/meta
setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= $r/etc/hello 2>/dev/null || true
ln $r/etc/hello $r/etc/hello-hl
truncate -s 20M $r/sparse; echo mid | dd of=$r/sparse bs=1 seek=9000000 conv=notrunc status=none
for i in $(seq 1 300); do echo $i >$r/many/f$i; done
umoci repack --refresh-bundle --image img:v1 b
# layer 2: deletions, type changes, metadata, hardlink to a lower file
rm -rf $r/d1 $r/d2/x $r/opq/* $r/repl $r/repl2
echo c >$r/opq/c
echo now-a-file >$r/repl
mkdir $r/repl2; echo in >$r/repl2/in
chmod 600 $r/meta; chown 1234:4321 $r/meta
ln $r/etc/hello $r/hello-hl2
cp $r/many/f1 $r/dup
umoci repack --refresh-bundle --image img:v1 b
# layer 3: only duplicates of existing data
cp $r/sparse $r/sparse-copy
umoci repack --refresh-bundle --image img:v1 b
umoci unpack --image img:v1 ref >/dev/null

convert_ok oci:img:v1 oci:out:lading --layer-bootstraps lb
[ "$(jget "['layers'].__len__()")" = 3 ] || fail "expected 3 layers"
# each layer on its own, against its source layer blob (gzip tar)
for i in 0 1 2; do
	lboot=$(jget "['layers'][$i]['layer_bootstrap']" | cut -d: -f2)
	src=img/blobs/sha256/$(jget "['layers'][$i]['source_digest']" | cut -d: -f2)
	"$LADING_VERIFY" -q --layer --source "$src" -b out/blobs/sha256 "lb/$lboot" ||
		fail "layer $((i + 1)) does not verify against its source"
done
log "ok: every layer verifies against its source layer"
mount_converted out lading
treecmp ref/rootfs "$MNT"
unmount_image
log "ok: umoci image converted, mount equals umoci unpack"

# lading-verify: structure, blobs, and the merged view against umoci's tree
boot=$(manifest_layers out lading | tail -1)
"$LADING_VERIFY" -q --source ref/rootfs "$boot" ||
	fail "lading-verify --source of the merged view"
man1=$(jget "['manifest']")

# ---- 2. three transports, identical output ------------------------------
tar -C img -cf img-oci.tar .
skopeo copy -q oci:img:v1 docker-archive:img-docker.tar:test:v1
for src in oci-archive:img-oci.tar:v1 docker-archive:img-docker.tar; do
	rm -rf out2
	convert_ok "$src" oci:out2:lading
	[ "$(jget "['manifest']")" = "$man1" ] ||
		fail "$src gives manifest $(jget "['manifest']"), oci: gave $man1"
done
log "ok: oci, oci-archive and docker-archive give manifest $man1"
# reproducible: again, same digest
rm -rf out3; convert_ok oci:img:v1 oci:out3:lading
[ "$(jget "['manifest']")" = "$man1" ] || fail "not reproducible"

# the config keeps the runtime settings
python3 - out lading <<'PY' || fail "config lost runtime settings"
import json, sys
lay, ref = sys.argv[1], sys.argv[2]
idx = json.load(open(lay + "/index.json"))
m = [d for d in idx["manifests"] if d["annotations"]["org.opencontainers.image.ref.name"] == ref][0]
man = json.load(open(lay + "/blobs/sha256/" + m["digest"].split(":")[1]))
cfg = json.load(open(lay + "/blobs/sha256/" + man["config"]["digest"].split(":")[1]))
assert cfg["rootfs"]["diff_ids"] == [l["digest"] for l in man["layers"]]
assert man["layers"][-1]["annotations"]["io.lading.bootstrap"] == "true"
for l in man["layers"][:-1]:
    a = l["annotations"]
    for k in ("uncompressed-size", "chunk-size", "codec", "toc-digest", "source-diff-id"):
        assert "io.lading.blob." + k in a, k
PY

# ---- 3. hand-made layers: exact semantics --------------------------------
python3 "$here/make_layers.py" layers
# umoci 0.4 unpacks gzip layers only: the reference comes from a gzip copy
python3 "$here/make_oci.py" hand v1 layers/l1.tar layers/l2.tar layers/l3.tar
umoci unpack --image hand:v1 handref >/dev/null
python3 "$here/make_oci.py" handz v1 --compress zstd layers/l1.tar layers/l2.tar layers/l3.tar
convert_ok oci:handz:v1 oci:handout:v1 --compress lz4 --layer-bootstraps hlb
[ "$(jget "['layers'][1]['chunks_deduplicated']")" -ge 1 ] || fail "copy not deduplicated"
# l2 hardlinks into l1: it cannot stand alone; l1 and l3 can
[ "$(jget "['layers'][1]['layer_bootstrap']")" = None ] || fail "l2 got a standalone bootstrap"
for i in 0 2; do
	lboot=$(jget "['layers'][$i]['layer_bootstrap']" | cut -d: -f2)
	"$LADING_VERIFY" -q --layer --source "layers/l$((i + 1)).tar" \
		-b handout/blobs/sha256 "hlb/$lboot" || fail "hand layer $((i + 1)) does not verify"
done
mount_converted handout v1
treecmp handref/rootfs "$MNT"
unmount_image
# the same layers as a dir: source, into a dir: destination
convert_ok dir:layers --layer l1.tar --layer l2.tar --layer l3.tar dir:handdir
files=(handdir/*)
[ "${#files[@]}" -ge 2 ] || fail "dir: output holds ${#files[@]} files"
log "ok: opaque-after-siblings, type changes, lower hardlinks, no EOF blocks"

# ---- 4. chunk dictionaries -----------------------------------------------
mkdir -p dictsrc/rootfs-extra
python3 "$here/make_oci.py" img2 v1 layers/l1.tar layers/l3.tar
convert_ok oci:img2:v1 oci:img2out:v1
plain_new=$(jget "['layers'][0]['chunks_new']")
dictboot=$(manifest_layers handout v1 | tail -1)
convert_ok oci:img2:v1 oci:img2dict:v1 --chunk-dict "$dictboot" --compress lz4
[ "$(jget "['chunk_dict_blobs_used']")" -ge 1 ] || fail "dictionary not used"
[ "$(jget "['layers'][0]['chunks_new']")" -lt "$plain_new" ] ||
	fail "chunk dict saved nothing ($plain_new new chunks either way)"
saved=$(jget "['bytes_saved']")
mount_converted img2dict v1
umoci unpack --image img2:v1 img2ref >/dev/null
treecmp img2ref/rootfs "$MNT"
unmount_image
log "ok: --chunk-dict: $saved bytes reused from the dictionary"

# ---- 5. bad input ---------------------------------------------------------
cp -a handz bad
layer=$(python3 -c "
import json
idx=json.load(open('bad/index.json'))
man=json.load(open('bad/blobs/sha256/'+idx['manifests'][0]['digest'].split(':')[1]))
print(man['layers'][0]['digest'].split(':')[1])")
printf 'XX' | dd of=bad/blobs/sha256/$layer bs=1 seek=100 conv=notrunc status=none
cp -a handout dst-before
expect_convert_failure() {
	local pat=$1 rc=0; shift
	"$LADING_CONVERT" "$@" >/dev/null 2>"$WORK/bad.err" || rc=$?
	[ $rc = 1 ] || fail "lading-convert $*: exit $rc (want 1)"
	grep -q -- "$pat" "$WORK/bad.err" || fail "no '$pat' in: $(cat "$WORK/bad.err")"
	diff -r dst-before handout >/dev/null || fail "DST changed by a failed run"
	log "ok: $(cat "$WORK/bad.err")"
}
expect_convert_failure "$layer" oci:bad:v1 oci:handout:v1
rm bad/blobs/sha256/$layer
expect_convert_failure "missing\|No such" oci:bad:v1 oci:handout:v1
echo '{not json' >bad/index.json
expect_convert_failure "malformed JSON" oci:bad:v1 oci:handout:v1
expect_convert_failure "ends inside its data" dir:layers --layer short.tar oci:handout:v1
rm -rf bad

# seed_from_registry LAYOUT REPO: the bootstrap from LAYOUT (pulled back
# with skopeo), its blobs seeded from REPO on the registry by range, mounted
# and compared with umoci's tree
seed_from_registry() {
	local boot cache f
	local -a pl devs
	next_seq
	cache=$WORK/regcache.$_seq
	# the bootstrap (zstd in transport) resolved from the layout
	"$LADING_PREPARE" --json --plain-http --seed-from "docker://127.0.0.1:$port/$2" \
		"oci:$1:v1" "$cache" >"$cache.json" ||
		{ kill $regpid; fail "seeding $2 from the registry"; }
	boot=$(python3 -c "import json;print(json.load(open('$cache.json'))['bootstrap_digest'][7:])")
	mapfile -t pl < <(manifest_layers "$1" v1 blobs)
	for f in "${pl[@]}"; do devs+=("$cache/${f##*/}"); done
	mount_image "$cache/$boot" "${devs[@]}"
	treecmp ref/rootfs "$MNT"
	unmount_image
}

# ---- 6. skopeo round trip through docker-registry -----------------------
if command -v docker-registry >/dev/null 2>&1; then
	port=$((20000 + RANDOM % 20000))
	mkdir -p reg
	cat >reg/config.yml <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $WORK/reg/data
http:
  addr: 127.0.0.1:$port
YML
	docker-registry serve reg/config.yml >reg/log 2>&1 &
	regpid=$!
	wait_registry "$port" "$regpid" reg/log || { kill $regpid; exit 1; }
	skopeo copy -q --dest-tls-verify=false oci:out:lading \
		"docker://127.0.0.1:$port/lading/test:v1" || { kill $regpid; fail "skopeo push"; }
	skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$port/lading/test:v1" \
		oci:back:lading || { kill $regpid; fail "skopeo pull"; }
	# a registry as the source: the same image gives the same output
	skopeo copy -q --dest-tls-verify=false oci:img:v1 \
		"docker://127.0.0.1:$port/src/img:v1" || { kill $regpid; fail "skopeo push src"; }
	rc=0
	"$LADING_CONVERT" --json --plain-http "docker://127.0.0.1:$port/src/img:v1" \
		oci:fromreg:v1 >"$WORK/conv.json" 2>"$WORK/conv.err" || rc=$?
	[ $rc = 0 ] || { kill $regpid; cat "$WORK/conv.err"; fail "convert from docker://"; }
	[ "$(jget "['manifest']")" = "$man1" ] || { kill $regpid; fail "docker:// source gives $(jget "['manifest']"), oci: gave $man1"; }
	# registry to registry: pull, convert, push; skopeo pulls it back intact
	# (the bootstrap layer as oci: writes it, to compare the digests)
	"$LADING_CONVERT" -q --plain-http --bootstrap-compression none \
		"docker://127.0.0.1:$port/src/img:v1" \
		"docker://127.0.0.1:$port/lading/pushed:v1" || { kill $regpid; fail "push"; }
	skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$port/lading/pushed:v1" \
		oci:pushedback:v1 || { kill $regpid; fail "skopeo pull of the pushed image"; }
	pushed=$(python3 -c "import json;print(json.load(open('pushedback/index.json'))['manifests'][0]['digest'])")
	[ "$pushed" = "$man1" ] || { kill $regpid; fail "pushed image $pushed != $man1"; }
	# a node seeds its cache from the registry (ranges) and mounts it
	seed_from_registry pushedback lading/pushed
	# compressed blobs through ranges: push a zstd conversion, seed, mount
	"$LADING_CONVERT" -q --compress zstd -C 64K --plain-http oci:img:v1 \
		"docker://127.0.0.1:$port/lading/zstd:v1" || { kill $regpid; fail "push zstd"; }
	skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$port/lading/zstd:v1" \
		oci:zstdback:v1 || { kill $regpid; fail "pull zstd"; }
	seed_from_registry zstdback lading/zstd
	# another repository on the same registry: blobs mounted, not uploaded
	"$LADING_CONVERT" -q --plain-http --mount-from lading/pushed oci:img:v1 \
		"docker://127.0.0.1:$port/lading/mounted:v1" || { kill $regpid; fail "push with mount"; }
	skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$port/lading/mounted:v1" \
		>/dev/null || { kill $regpid; fail "mounted image not readable"; }
	grep -q 'mount' reg/log || { kill $regpid; fail "no cross-repository mount in the registry log"; }
	# pushing again moves no blob (HEAD finds them) and keeps the digest
	"$LADING_CONVERT" -q --plain-http oci:img:v1 \
		"docker://127.0.0.1:$port/lading/pushed:v1" || { kill $regpid; fail "second push"; }
	"$LADING_CONVERT" --plain-http "docker://127.0.0.1:$port/src/nothere:v1" \
		oci:fromreg:v1 2>"$WORK/conv.err" && { kill $regpid; fail "missing image accepted"; }
	grep -q "not found" "$WORK/conv.err" || { kill $regpid; fail "no 'not found': $(cat "$WORK/conv.err")"; }
	kill $regpid
	back=$(python3 -c "import json;print(json.load(open('back/index.json'))['manifests'][0]['digest'])")
	[ "$back" = "$man1" ] || fail "round trip changed the manifest: $back != $man1"
	mount_converted back lading
	treecmp ref/rootfs "$MNT"
	unmount_image
	log "ok: skopeo round trip through docker-registry on 127.0.0.1:$port; docker:// source; push; seeding from the registry"

	# basic auth (htpasswd): right credentials pass, wrong ones are named
	if command -v htpasswd >/dev/null 2>&1; then
		port=$((20000 + RANDOM % 20000))
		htpasswd -Bbn tester secret >reg/htpasswd
		cat >reg/auth.yml <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $WORK/reg/data
auth:
  htpasswd:
    realm: lading-test
    path: $WORK/reg/htpasswd
http:
  addr: 127.0.0.1:$port
YML
		docker-registry serve reg/auth.yml >reg/auth.log 2>&1 &
		regpid=$!
		wait_registry "$port" "$regpid" reg/auth.log || { kill $regpid; exit 1; }
		"$LADING_CONVERT" -q --plain-http --creds tester:secret \
			"docker://127.0.0.1:$port/src/img:v1" oci:authed:v1 ||
			{ kill $regpid; fail "basic auth with the right password"; }
		# credentials from a docker config.json ("auths", base64 user:pass)
		mkdir -p dockercfg
		printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$port" \
			"$(printf tester:secret | base64)" >dockercfg/config.json
		DOCKER_CONFIG=$WORK/dockercfg "$LADING_CONVERT" -q --plain-http \
			"docker://127.0.0.1:$port/src/img:v1" oci:authed3:v1 ||
			{ kill $regpid; fail "credentials from DOCKER_CONFIG"; }
		rc=0
		"$LADING_CONVERT" -q --plain-http --creds tester:wrong \
			"docker://127.0.0.1:$port/src/img:v1" oci:authed2:v1 2>"$WORK/auth.err" || rc=$?
		kill $regpid
		[ $rc = 1 ] && grep -qi "denied\|credentials" "$WORK/auth.err" ||
			fail "wrong credentials: exit $rc: $(cat "$WORK/auth.err")"
		log "ok: basic auth: $(cat "$WORK/auth.err")"
	else
		echo "SKIP (part): htpasswd (apache2-utils) not installed"
	fi
else
	echo "SKIP (part): docker-registry not installed"
fi
