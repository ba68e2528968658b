#!/bin/bash
# lading-verify against giant and hostile images (issue 11):
# - a legitimate 16 TiB sparse file (64 MiB chunks): verify, --source (a
#   directory, a GNU and a PAX sparse tar) and --extract cost its chunk
#   count, not its size; the extracted file has the right size and bytes
#   and almost no allocated blocks (holes stay holes);
# - a crafted bootstrap declaring a 2^58-byte file of 2^40-byte chunks (all
#   holes) is a structural error, exit 1, naming the inode and the rule;
# - build_time_nsec >= 10^9, an owner of -1, a size of 2^63 and xattrs
#   setxattr refuses (malformed POSIX ACLs, v1 capabilities, names over 255
#   bytes), what extract cannot set, are errors of verify, exit 1;
#   --extract of a structurally broken image creates nothing;
# - --extract checks every chunk against the ToC, even with
#   --no-blob-digest: a damaged chunk (a raw one in a plain blob, a
#   zstd-compressed one in a zstd blob) exits 1 naming the blob id and the
#   chunk index, and no file is left under its name; without a blob table
#   (no ToC) the blob is hashed whole first.
# Without the hole skipping the giant takes minutes (ctest's timeout fails
# it); the other cases exit 0, or 2, or leave the file on the old code.
NEEDS_MOUNT=0
. "$(dirname "$0")/lib.sh"
[ -n "${LADING_VERIFY:-}" ] || fail "LADING_VERIFY not set"
POKE="python3 $(dirname "$0")/erofs_poke.py"
GIANT="python3 $(dirname "$0")/../tools/sparse_giant.py"
TIB=$((1 << 40))

# expect_verify RC PATTERN [opts...]: exit RC, PATTERN in the output
expect_verify() {
	local want=$1 pat=$2 rc=0; shift 2
	next_seq
	"$LADING_VERIFY" "$@" >"$WORK/v.$_seq.out" 2>&1 || rc=$?
	if [ "$rc" != "$want" ] || ! grep -q -- "$pat" "$WORK/v.$_seq.out"; then
		cat "$WORK/v.$_seq.out" >&2
		fail "lading-verify $*: exit $rc (want $want), output should match '$pat'"
	fi
	log "ok: exit $rc, '$(grep -m1 -- "$pat" "$WORK/v.$_seq.out")'"
}

# ---- damaged chunks and extract (any file system) ---------------------------

mkdir -p "$WORK/src/sub"
random_file "$WORK/src/data.bin" 300000
seq 1 100000 >"$WORK/src/sub/text"
for codec in none zstd; do
	if [ "$codec" != none ] && ! "$LADING_MKIMAGE" --help | grep -c "$codec" >/dev/null; then
		log "codec $codec not built in: skipped"
		continue
	fi
	build_image "$WORK/src" -C 64K --compress "$codec"
	case=$WORK/case-$codec
	mkdir -p "$case"
	cp "$IMG_BOOT" "$IMG_BLOB" "$case/"
	blob=$case/$IMG_BLOB_ID
	# random data is stored raw even in a zstd blob: damage the text there
	victim=data.bin other=sub/text
	[ "$codec" = none ] || victim=sub/text other=data.bin
	off=$($POKE "$case/boot.img" data-offset "$victim")
	# the stored bytes of the victim's first chunk, through the blob's ToC
	# (footer: ToC offset and size at 16); its codec must be the blob's
	off=$(python3 - "$blob" "$off" "$codec" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
toc_off, toc_size = struct.unpack_from("<QQ", b, len(b) - 64 + 16)
for i in range(toc_size // 64):
    uoff, ulen, clen, coff, codec = struct.unpack_from("<QIIQB", b, toc_off + 64 * i)
    if uoff == int(sys.argv[2]):
        assert (codec == 0) == (sys.argv[3] == "none"), "chunk codec %d" % codec
        print(coff + clen // 2)
EOF
)
	[ -n "$off" ] || fail "no ToC entry for $victim's first chunk"
	flip_bytes "$blob" "$off" 3
	for digest in no yes; do
		out=$case/out-$digest
		opts=()
		[ "$digest" = no ] && opts=(--no-blob-digest)
		expect_verify 1 "blob $IMG_BLOB_ID: chunk [0-9]* does not decode to its sha256: /$victim (file chunk 0) not extracted" \
			"${opts[@]}" --extract "$out" "$case/boot.img"
		[ ! -e "$out/$victim" ] || fail "$codec, digest $digest: damaged $victim left in the extract"
		cmp "$out/$other" "$WORK/src/$other" || fail "$codec: $other not extracted"
		[ -z "$(find "$out" -name '.*' ! -name . )" ] || fail "$codec: temporary files left: $(ls -A "$out")"
	done
done

# without a blob table (a plain EROFS image) there is no ToC: extract
# hashes the whole blob against its id before writing any of its data
build_image "$WORK/src" -C 64K
case=$WORK/case-plain
mkdir -p "$case" && cp "$IMG_BOOT" "$IMG_BLOB" "$case/"
id=$($POKE "$case/boot.img" no-blob-table - "$case")
expect_verify 0 "blob $id: ok" --extract "$case/good" "$case/boot.img"
cmp "$case/good/data.bin" "$WORK/src/data.bin" || fail "plain EROFS: data.bin differs"
off=$($POKE "$case/boot.img" data-offset data.bin)
flip_bytes "$case/$id" $((off + 5000)) 2
expect_verify 1 "blob $id: content digest differs from its id: /data.bin not extracted" \
	--no-blob-digest --extract "$case/out" "$case/boot.img"
[ ! -e "$case/out/data.bin" ] || fail "plain EROFS: damaged data.bin left in the extract"

# ---- what extract cannot set is an error of verify --------------------------

build_image "$WORK/src"
mkdir -p "$WORK/nsec" && cp "$IMG_BOOT" "$IMG_BLOB" "$WORK/nsec/"
$POKE "$WORK/nsec/boot.img" fixed-nsec - 1000000000
expect_verify 1 "build_time_nsec 1000000000 is not below" "$WORK/nsec/boot.img"
expect_verify 1 "build_time_nsec" --extract "$WORK/nsec/out" "$WORK/nsec/boot.img"
[ ! -e "$WORK/nsec/out" ] || fail "a broken image was extracted: $(ls -A "$WORK/nsec/out")"

touch -d '@1600000000.5' "$WORK/src/data.bin"	# an extended inode
build_image "$WORK/src" --nsec
mkdir -p "$WORK/uid" && cp "$IMG_BOOT" "$IMG_BLOB" "$WORK/uid/"
$POKE "$WORK/uid/boot.img" owner data.bin 4294967295
expect_verify 1 "owner 4294967295:.*-1 is not a valid id" "$WORK/uid/boot.img"
mkdir -p "$WORK/big" && cp "$IMG_BOOT" "$IMG_BLOB" "$WORK/big/"
$POKE "$WORK/big/boot.img" file-size data.bin 9223372036854775808	# 2^63
expect_verify 1 "size 9223372036854775808 beyond the largest file Linux can hold" \
	"$WORK/big/boot.img"

# xattrs setxattr(2) refuses: mkimage refuses them in a tar (one line
# naming the tar, the entry and why, nothing written) ...
XT="python3 $(dirname "$0")/../tools/bad_xattrs_tar.py"
for c in acl-garbage:"posix_acl_access is not a header" \
	 acl-no-other:"posix_acl_access lacks the owner, group, other" \
	 cap-v1:"security.capability is neither a v2"; do
	name=${c%%:*} pat=${c#*:}
	$XT "$WORK/$name.tar" "$name"
	mkdir -p "$WORK/x-$name"
	rc=0
	"$LADING_MKIMAGE" -q "$WORK/x-$name/boot.img" "$WORK/$name.tar" 2>"$WORK/x-$name/err" || rc=$?
	[ $rc = 1 ] || fail "$name: mkimage exit $rc (want 1): $(cat "$WORK/x-$name/err")"
	[ "$(wc -l <"$WORK/x-$name/err")" = 1 ] &&
		grep -q "$name.tar: entry 'f': xattr .*$pat" "$WORK/x-$name/err" ||
		fail "$name: mkimage says: $(cat "$WORK/x-$name/err")"
	[ -z "$(ls -A "$WORK/x-$name" | grep -v '^err$')" ] || fail "$name: mkimage left output"
	log "ok: mkimage refuses $name: $(cat "$WORK/x-$name/err")"
done
# ... and verify names them in an image (a name over 255 bytes, and the
# valid ACL and capability set of ok.tar patched in place in the bootstrap)
$XT "$WORK/long-name.tar" long-name
mkdir -p "$WORK/x-long-name"
"$LADING_MKIMAGE" -q "$WORK/x-long-name/boot.img" "$WORK/long-name.tar"
expect_verify 1 "(/f): xattr .*xattr name of 256 bytes\|nid [0-9]*: xattr name of 256 bytes" \
	--extract "$WORK/x-long-name/out" "$WORK/x-long-name/boot.img"
[ ! -e "$WORK/x-long-name/out" ] || fail "long-name: a broken image was extracted"
$XT "$WORK/ok.tar" ok
for c in acl-unknown-tag:"posix_acl_access has entries out of order, repeated or unknown" \
	 cap-revision:"security.capability has a revision that does not match its size"; do
	name=${c%%:*} pat=${c#*:}
	mkdir -p "$WORK/x-$name"
	"$LADING_MKIMAGE" -q "$WORK/x-$name/boot.img" "$WORK/ok.tar"
	python3 - "$WORK/x-$name/boot.img" "$name" <<'PYEOF' || fail "$name: cannot patch the bootstrap"
import struct, sys
path, case = sys.argv[1], sys.argv[2]
img = bytearray(open(path, "rb").read())
if case == "acl-unknown-tag":	# other:: (0x20) becomes tag 0x40
    old = struct.pack("<HHI", 0x20, 4, 0xFFFFFFFF)
    new = struct.pack("<HHI", 0x40, 4, 0xFFFFFFFF)
else:				# a v2-sized set that says revision 1
    old = struct.pack("<II", 0x02000001, 1 << 10)
    new = struct.pack("<II", 0x01000001, 1 << 10)
at = img.find(old)
assert at >= 0 and img.find(old, at + 1) < 0
img[at:at + len(old)] = new
open(path, "wb").write(img)
PYEOF
	expect_verify 1 "(/f): xattr .*$pat" --extract "$WORK/x-$name/out" "$WORK/x-$name/boot.img"
	[ ! -e "$WORK/x-$name/out" ] || fail "$name: a broken image was extracted"
done
# a valid ACL and capability set pass and extract
build_image "$WORK/ok.tar"
expect_verify 0 "" --extract "$WORK/ok-out" "$IMG_BOOT"
cmp "$WORK/ok-out/f" <(printf 'data\n') || fail "ok.tar: f not extracted"

# ---- the sparse giants (a tmpfs holds 16 TiB files) -------------------------

[ "$(id -u)" = 0 ] || skip "the 16 TiB sparse files need a tmpfs (mount needs root)"
G=$WORK/giant
mkdir -p "$G"
mount -t tmpfs -o size=512m,mode=0755 lading-test "$G" ||
	skip "cannot mount a tmpfs for the 16 TiB sparse files"
$GIANT "$G/src" >/dev/null
set_mtimes "$G/src"
tar --sparse --format=posix -cf "$G/pax.tar" -C "$G/src" .
tar --sparse --format=gnu -cf "$G/gnu.tar" -C "$G/src" .
# build_image verifies against the source directory too
build_image "$G/src" -C 64M
boot=$IMG_BOOT B=$IMG_OUT
[ "$(stat -c %s "$boot")" -lt $((8 << 20)) ] || fail "bootstrap of $(stat -c %s "$boot") bytes"
expect_verify 0 "blob $IMG_BLOB_ID: ok" -b "$B" "$boot"
expect_verify 0 "524289 chunks (524287 holes)" -b "$B" --source "$G/pax.tar" "$boot"
expect_verify 0 "524289 chunks (524287 holes)" -b "$B" --source "$G/gnu.tar" "$boot"
expect_verify 0 "blob $IMG_BLOB_ID: ok" -b "$B" --extract "$G/out" "$boot"
for f in giant void; do
	[ "$(stat -c %s "$G/out/$f")" = "$(stat -c %s "$G/src/$f")" ] ||
		fail "extracted $f: $(stat -c %s "$G/out/$f") bytes"
	alloc=$(($(stat -c %b "$G/out/$f") * $(stat -c %B "$G/out/$f")))
	[ "$alloc" -le $((4 << 20)) ] || fail "extracted $f allocates $alloc bytes: holes were written"
	log "ok: extracted $f, $(stat -c %s "$G/out/$f") bytes, $alloc allocated"
done
python3 - "$G/out/giant" "$TIB" <<'EOF' || fail "extracted giant: wrong bytes"
import sys
t = int(sys.argv[2])
with open(sys.argv[1], "rb") as f:
    f.seek(5 * t)
    assert f.read(16) == b"\0" * 7 + b"hello" + b"\0" * 4
    f.seek(16 * t - 1)
    assert f.read() == b"\0end"
EOF
# a source that differs inside a hole of the image is still found
printf x | dd of="$G/src/void" bs=1 seek=$((3 * TIB)) conv=notrunc status=none
expect_verify 1 "/void: content differs in bytes $((3 * TIB))\.\." -b "$B" --source "$G/src" "$boot"

# crafted: the same indexes, declaring 2^58 bytes in 2^40-byte chunks
cp "$boot" "$G/b58.img"
$POKE "$G/b58.img" file-size void $((1 << 58)) 28
expect_verify 1 "chunk size 2^40, larger than any blob chunk" -b "$B" "$G/b58.img"
expect_verify 1 "chunk size 2^40" -b "$B" --extract "$G/out58" "$G/b58.img"
[ ! -e "$G/out58" ] || fail "a broken image was extracted: $(ls -A "$G/out58")"
# 2^58 bytes in 2 GiB chunks would need 2^27 indexes
cp "$boot" "$G/b58b.img"
$POKE "$G/b58b.img" file-size void $((1 << 58)) 19
expect_verify 1 "134217728 chunk indexes leave the image" -b "$B" "$G/b58b.img"
