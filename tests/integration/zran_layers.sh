#!/bin/bash
# The gzip seek index over layers from real writers: Go's gzip (umoci),
# GNU gzip (with FNAME), pigz (single and multi-member, -i), a member
# with FEXTRA, FNAME, FCOMMENT and FHCRC written by python, and eStargz's
# layout (a member per entry, an empty last member with FEXTRA).  For each:
# the index's diff_id is the sha256 of `gzip -dc`, every span inflates
# alone from its compressed range and matches its digest, and ranges read
# through the spans equal the same bytes of `gzip -dc`.  One flipped byte
# in a layer fails exactly the spans whose range holds it, and the
# indexing pass refuses the damaged layer.
NEEDS_MOUNT=0
. "$(dirname "$0")/lib.sh"
require_cmd gzip pigz umoci tar python3 dd cmp sha256sum
Z=${LADING_ZRAN_TOOL:-}
[ -n "$Z" ] && [ -x "$Z" ] || fail "LADING_ZRAN_TOOL not set"
cd "$WORK"

# a tree of compressible and random files (~6 MiB)
mkdir -p tree/a/b tree/c
seq 1 400000 >tree/a/seq
random_file tree/a/b/rand 1500000
for i in $(seq 1 200); do seq "$i" 3000 >"tree/c/f$i"; done
head -c 1000000 /dev/zero >tree/zeros
tar -C tree -cf t.tar .
half=$(( $(stat -c %s t.tar) / 2 ))

gzip -6 -N -c t.tar >gnu.gz
pigz -p 2 -c t.tar >pigz.gz
pigz -p 2 -i -c t.tar >pigz-i.gz
{ head -c "$half" t.tar | pigz -c; tail -c +"$((half + 1))" t.tar | gzip -1 -c; } >multi.gz
python3 - t.tar fields.gz <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
flg = 0x02 | 0x04 | 0x08 | 0x10          # FHCRC FEXTRA FNAME FCOMMENT
extra = b"LD" + struct.pack("<H", 3) + b"abc"
hdr = b"\x1f\x8b\x08" + bytes([flg]) + struct.pack("<I", 0) + b"\x00\xff"
hdr += struct.pack("<H", len(extra)) + extra + b"layer.tar\x00" + b"a comment\x00"
hdr += struct.pack("<H", zlib.crc32(hdr) & 0xffff)
out = bytearray()
for part in (data[:len(data) // 3], data[len(data) // 3:]):   # two members
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = c.compress(part) + c.flush()
    out += hdr + body + struct.pack("<II", zlib.crc32(part), len(part) & 0xffffffff)
open(sys.argv[2], "wb").write(out)
EOF
# eStargz's shape: a member per entry and payload, an empty FEXTRA footer
python3 "$(dirname "$0")/../tools/stargz_like.py" t.tar stargz.gz
# Go's gzip: the layer umoci writes
umoci init --layout img >/dev/null
umoci new --image img:v1
umoci unpack --image img:v1 bundle >/dev/null
cp -a tree/. bundle/rootfs/
umoci repack --image img:v1 bundle
golayer=$(python3 -c "
import json
idx = json.load(open('img/index.json'))
m = json.load(open('img/blobs/sha256/' + idx['manifests'][0]['digest'][7:]))
print('img/blobs/sha256/' + m['layers'][-1]['digest'][7:])")
cp "$golayer" go.gz

for w in gnu pigz pigz-i multi fields stargz go; do
	"$Z" index $w.gz 64K $w.idx >$w.stat || fail "$w: indexing failed"
	gzip -dc $w.gz >$w.tar
	want=$(sha256sum <$w.tar | cut -d' ' -f1)
	grep -qx "diff_id sha256:$want" $w.stat || fail "$w: diff_id is not the sha256 of gzip -dc"
	grep -qx "blob sha256:$(sha256sum <$w.gz | cut -d' ' -f1)" $w.stat ||
		fail "$w: blob digest wrong"
	spans=$(awk '/^spans/ {print $2}' $w.stat)
	[ "$spans" -gt 3 ] || fail "$w: only $spans spans"
	"$Z" check $w.gz $w.idx >$w.check || { cat $w.check >&2; fail "$w: span check failed"; }
	size=$(stat -c %s $w.tar)
	for r in "0 1" "0 $size" "65535 3" "$((size / 3)) 300000" "$((size - 10)) 10" \
		 "$((size / 2 - 70000)) 140001"; do
		set -- $r
		"$Z" cat $w.gz $w.idx "$1" "$2" >part || fail "$w: read [$1,+$2) failed"
		dd if=$w.tar bs=1M iflag=skip_bytes,count_bytes skip="$1" count="$2" \
		   status=none | cmp -s - part || fail "$w: read [$1,+$2) differs"
	done
	log "$w: $spans spans, index $(awk '/^index / {print $2}' $w.stat) bytes for $(stat -c %s $w.gz)"
done

# corruption: one byte in the middle of a multi-member layer
size=$(stat -c %s multi.gz)
off=$((size / 2))
cp multi.gz bad.gz
flip_bytes bad.gz "$off"
if "$Z" check bad.gz multi.idx >bad.check; then fail "a flipped byte went unnoticed"; fi
nbad=$(grep -c '^bad ' bad.check)
[ "$nbad" -ge 1 ] && [ "$nbad" -le 2 ] || fail "flipped byte failed $nbad spans (want 1 or 2)"
grep -q "spans $(awk '/^spans/ {print $2}' multi.stat) bad $nbad" bad.check || fail "bad summary"
if "$Z" index bad.gz 64K bad.idx 2>bad.err; then fail "indexing accepted a damaged layer"; fi
grep -q "gzip: .* at compressed offset" bad.err || fail "no gzip message: $(cat bad.err)"
[ ! -e bad.idx ] || fail "an index was written for a damaged layer"

# a truncated layer and trailing garbage are refused, with one line
head -c $((size - 5)) multi.gz >trunc.gz
if "$Z" index trunc.gz 64K 2>trunc.err; then fail "accepted a truncated layer"; fi
[ "$(wc -l <trunc.err)" = 1 ] || fail "more than one line: $(cat trunc.err)"
{ cat multi.gz; printf 'junk'; } >junk.gz
if "$Z" index junk.gz 64K 2>junk.err; then fail "accepted trailing garbage"; fi
grep -q "bad magic" junk.err || fail "trailing garbage: $(cat junk.err)"
log "ok"
