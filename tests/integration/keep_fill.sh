#!/bin/bash
# Serving gzip layers kept as they are: lading-fill (fanotify) mounts the
# --keep-layers image on a fresh cache, fetching each read's spans from
# the original layer blobs (one range per span), inflating them from
# their checkpoints and checking their sha256 before the read goes on;
# the tree equals umoci unpack and only the spans read were fetched.  A
# restart fetches nothing twice.  With one byte of a layer blob flipped,
# the files of the damaged span read EIO, the others read right, and no
# byte the span digests did not vouch for is in the cache.  lading-verify
# checks the files through the spans and finds the damaged one;
# lading-prepare seeds through the same path; cachefiles is refused.
. "$(dirname "$0")/lib.sh"
require_cmd umoci python3 gzip
[ -n "${LADING_CONVERT:-}" ] || fail "LADING_CONVERT not set"
[ -n "${LADING_FILL:-}" ] || fail "LADING_FILL not set"
cd "$WORK"

umoci init --layout img >/dev/null
umoci new --image img:v1
umoci unpack --image img:v1 b >/dev/null
r=b/rootfs
mkdir -p $r/etc $r/d $r/many
echo hello >$r/etc/hello
random_file $r/d/rand 3000000
seq 1 400000 >$r/d/seq
for i in $(seq 1 60); do seq "$i" 2000 >$r/many/f$i; done
umoci repack --refresh-bundle --image img:v1 b
rm $r/many/f3
random_file $r/upper 500000
umoci repack --refresh-bundle --image img:v1 b
umoci unpack --image img:v1 ref >/dev/null

"$LADING_CONVERT" -q --keep-layers --span-size 64K oci:img:v1 oci:out:lading ||
	fail "convert --keep-layers"
boot=$(manifest_layers out lading | tail -1)
src=(--source "$WORK/out/blobs/sha256" --source "$WORK/img/blobs/sha256")

# start_filler CACHE: serve in the background until stop_filler (lib.sh)
start_filler() { mount_filler "$boot" "$1" "${src[@]}"; }
stat_of() { python3 -c "import json;print(json.load(open('$STATS'))['$1'])"; }
layer1=$(python3 -c "
import json
idx = json.load(open('img/index.json'))
m = json.load(open('img/blobs/sha256/' + idx['manifests'][0]['digest'][7:]))
print(m['layers'][0]['digest'][7:])")

# 1. one file: only its spans come
start_filler "$WORK/cache1"
cmp $r/many/f10 "$MNT/many/f10" || fail "many/f10 differs"
one=$(data_bytes "$WORK/cache1/$layer1")
total=$(stat -c %s "$WORK/cache1/$layer1")
[ "$one" -lt $((total / 4)) ] || fail "reading one small file filled $one of $total bytes"
# 2. everything: the tree of umoci unpack
treecmp ref/rootfs "$MNT"
stop_filler
[ "$(stat_of bytes_fetched)" -gt 0 ] || fail "nothing fetched"
log "ok: lazily served from the original layers, equal to umoci unpack ($one of $total bytes after one small file)"

# 3. a restart fetches nothing twice
start_filler "$WORK/cache1"
treecmp ref/rootfs "$MNT"
stop_filler
[ "$(stat_of bytes_fetched)" = 0 ] || fail "restart fetched $(stat_of bytes_fetched) bytes again"
log "ok: restart fetched nothing"

# 4. one flipped byte in a layer blob: EIO for the damaged span's files only
cp -a img imgbad
size=$(stat -c %s "img/blobs/sha256/$layer1")
flip_bytes "imgbad/blobs/sha256/$layer1" $((size / 2))
src=(--source "$WORK/out/blobs/sha256" --source "$WORK/imgbad/blobs/sha256")
start_filler "$WORK/cache2"
read_all_or_eio "$MNT" ref/rootfs
stop_filler
[ "$READ_EIO" -ge 1 ] || fail "a damaged span went unnoticed"
[ "$READ_OK" -ge 50 ] || fail "only $READ_OK files read past a damaged span"
# nothing in the cache that is not the layer's true tar bytes: a span
# whose range is all data holds exactly them; anything else there is the
# zeros a block shared with a written neighbour span reads as
idx=$(python3 -c "
import json
m = json.load(open('out/blobs/sha256/' + json.load(open('out/index.json'))['manifests'][0]['digest'][7:]))
print([l['digest'][7:] for l in m['layers'] if l.get('annotations', {}).get('io.lading.seek-index.layer') == 'sha256:$layer1'][0])")
gzip -dc "img/blobs/sha256/$layer1" >good.tar
python3 - "$WORK/cache2/$layer1" good.tar "out/blobs/sha256/$idx" <<'PY' || fail "an unverified byte is in the cache"
import os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY); good = open(sys.argv[2], "rb").read()
ix = open(sys.argv[3], "rb").read()
size = os.fstat(fd).st_size; data = bytearray(size); off = 0
while off < size:		# which bytes are data
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE); data[d:h] = b"\1" * (h - d); off = h
cache = os.pread(fd, size, 0)
full = 0
for i in range(struct.unpack_from("<I", ix, 20)[0]):
    uoff, _, _, ulen = struct.unpack_from("<QQQI", ix, 128 + 72 * i)
    if all(data[uoff:uoff + ulen]):
        full += 1
        if cache[uoff:uoff + ulen] != good[uoff:uoff + ulen]:
            sys.exit("span %d in the cache differs from the layer" % i)
    elif any(cache[uoff:uoff + ulen]):
        sys.exit("span %d is not all there, yet has non-zero bytes" % i)
if not full:
    sys.exit("no span in the cache")
PY
log "ok: $READ_EIO files EIO, $READ_OK read right, the cache holds only verified bytes"

# 5. lading-verify checks every file's bytes through the spans, and the
# layer blob against its digest
"$LADING_VERIFY" -q -b "$WORK/out/blobs/sha256" -b "$WORK/img/blobs/sha256" "$boot" \
	>verify.out 2>&1 || { cat verify.out >&2; fail "lading-verify of the kept layers"; }
if "$LADING_VERIFY" -b "$WORK/out/blobs/sha256" -b "$WORK/imgbad/blobs/sha256" "$boot" \
	>verify.bad 2>&1; then fail "lading-verify accepted a damaged layer"; fi
grep -q "layer sha256:$layer1 (slot 1): span [0-9]* (.*, gzip-indexed): does not decode to its digest" verify.bad ||
	fail "verify: $(cat verify.bad)"
# the tree against the source image's merged layers (read by the tar
# source from the original layers), and one changed file found
"$LADING_VERIFY" -q -b "$WORK/out/blobs/sha256" -b "$WORK/img/blobs/sha256" \
	--source oci:img:v1 "$boot" >verify.src 2>&1 ||
	{ cat verify.src >&2; fail "lading-verify --source oci:img:v1"; }
cp -a img imgalt
umoci unpack --image imgalt:v1 balt >/dev/null
echo changed >balt/rootfs/many/f10
umoci repack --image imgalt:v1 balt
if "$LADING_VERIFY" -b "$WORK/out/blobs/sha256" -b "$WORK/img/blobs/sha256" \
	--source oci:imgalt:v1 "$boot" >verify.alt 2>&1; then
	fail "lading-verify: a changed source file went unnoticed"
fi
grep -q "many/f10" verify.alt || fail "verify --source: $(cat verify.alt)"
log "ok: lading-verify through the spans, and against the source image's layers"

# 6. seeding takes the same path; cachefiles is refused
"$LADING_PREPARE" -q --seed-from "$WORK/out/blobs/sha256" \
	--seed-from "$WORK/img/blobs/sha256" "$boot" "$WORK/cache3" || fail "seeding"
devs=()
mapfile -t slots < <(python3 - "$boot" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack_from("<H", b, 1024 + 86)[0]
for i in range(n):
    print(b[1152 + 128 * i:1152 + 128 * i + 64].decode())
PY
)
for t in "${slots[@]}"; do devs+=("$WORK/cache3/$t"); done
mount_image "$WORK/cache3/${boot##*/}" "${devs[@]}"
treecmp ref/rootfs "$MNT"
unmount_image
if "$LADING_FILL" mount --backend cachefiles "$boot" "$WORK/mnt.cf" "${src[@]}" \
	--cache "$WORK/cache4" 2>cf.err; then fail "cachefiles accepted"; fi
grep -q "512-byte blocks.*cachefiles back end needs PAGE_SIZE blocks" cf.err ||
	fail "cachefiles: $(cat cf.err)"
log "ok"
