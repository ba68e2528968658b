#!/bin/bash
# A gzip layer kept as it is: one pass gives a bootstrap with 512-byte
# blocks whose file data are addressed inside the layer's tar stream, and
# the layer's seek index.  The kernel mounts the bootstrap file-backed
# with the raw tar stream (gzip -dc of the layer) as its one device and
# must show exactly the layer's tree: for Go's gzip (umoci, compared with
# umoci unpack), a GNU tar in multi-member pigz and in eStargz's layout
# (compared with the tree it was made from).  A sparse tar entry cannot be addressed in
# place and is refused, naming it.
. "$(dirname "$0")/lib.sh"
require_cmd umoci pigz gzip tar mknod mkfifo setfattr python3
Z=${LADING_ZRAN_TOOL:-}
[ -n "$Z" ] && [ -x "$Z" ] || fail "LADING_ZRAN_TOOL not set"
cd "$WORK"

fill_tree() {
	local r=$1 s
	mkdir -p "$r/d/e" "$r/empty-dir"
	for s in 0 1 511 512 513 4095 4096 4097 100000; do random_file "$r/d/f$s" "$s"; done
	random_file "$r/big" 3500000		# several chunks and spans
	seq 1 500000 >"$r/d/e/seq"		# compressible, long matches
	head -c 2000000 /dev/zero >"$r/zeros"
	ln -s d/f1 "$r/link"
	ln -s "$(long_name t 300)" "$r/long-link"
	ln "$r/d/f4097" "$r/hard"
	mkfifo "$r/fifo"
	mknod "$r/chr" c 1 3
	setfattr -n user.note -v hello "$r/d/f512"
	chmod 0751 "$r/d/e"
	chown 1000:2000 "$r/d/f513"
	echo "naïve" >"$r/d/ünï"
}

mount_kept() {	# LAYER.gz: bootstrap + index, mount with the raw tar
	local gz=$1
	"$Z" bootstrap "$gz" 64K "$gz.boot" "$gz.idx" >"$gz.out" ||
		fail "$gz: no bootstrap"
	gzip -dc "$gz" >"$gz.tar"
	"$Z" check "$gz" "$gz.idx" >/dev/null || fail "$gz: index does not check"
	mount_image "$gz.boot" "$gz.tar"
}

# ---- Go's gzip: a layer umoci wrote, against umoci unpack ---------------
umoci init --layout img >/dev/null
umoci new --image img:v1
umoci unpack --image img:v1 bundle >/dev/null
fill_tree bundle/rootfs
umoci repack --image img:v1 bundle
umoci unpack --image img:v1 ref >/dev/null
layer=$(python3 -c "
import json
idx = json.load(open('img/index.json'))
m = json.load(open('img/blobs/sha256/' + idx['manifests'][0]['digest'][7:]))
print(m['layers'][-1]['digest'][7:])")
cp "img/blobs/sha256/$layer" go.gz
mount_kept go.gz
grep -qx "tag $layer" go.gz.out || fail "slot tag is not the layer digest"
treecmp ref/rootfs "$MNT"
unmount_image
log "ok: Go gzip layer mounted from its tar stream equals umoci unpack"

# ---- GNU tar, multi-member pigz -----------------------------------------
mkdir tree
fill_tree tree
tar -C tree --xattrs --xattrs-include='*' --numeric-owner -cf t.tar .
half=$(( $(stat -c %s t.tar) / 2 ))
{ head -c "$half" t.tar | pigz -c; tail -c +"$((half + 1))" t.tar | pigz -c; } >multi.gz
mount_kept multi.gz
cmp -s t.tar multi.gz.tar || fail "pigz members do not give the tar back"
treecmp tree "$MNT"
unmount_image
log "ok: multi-member pigz layer mounted from its tar stream equals the tree"
python3 "$(dirname "$0")/../tools/stargz_like.py" t.tar stargz.gz
mount_kept stargz.gz
treecmp tree "$MNT"
unmount_image
log "ok: an eStargz-shaped layer (a member per entry) mounted from its tar stream equals the tree"

# ---- a sparse entry cannot be addressed in place ---------------------------
mkdir sp
truncate -s 10M sp/holes
echo mid | dd of=sp/holes bs=1 seek=5000000 conv=notrunc status=none
tar -C sp --sparse -cf sp.tar .
gzip -c sp.tar >sp.gz
if "$Z" bootstrap sp.gz 64K sp.boot sp.idx 2>sp.err; then fail "sparse entry accepted"; fi
grep -q "sp.gz: entry 'holes': sparse data cannot be addressed" sp.err ||
	fail "sparse: $(cat sp.err)"
log "ok"
