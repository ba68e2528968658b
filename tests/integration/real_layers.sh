#!/bin/bash
# Layers as Debian's layer writers write them, converted with
# lading-convert, mounted by the kernel and compared (bytes and metadata)
# with umoci unpack of the same image: umoci repack / insert / insert
# --opaque / insert --whiteout / raw add-layer; skopeo copy to gzip and
# zstd; GNU tar (gnu, posix, ustar, v7, --sparse); bsdtar; Python's
# tarfile; pigz and concatenated gzip members; zstd -T0 and concatenated
# frames.  umoci insert writes an unpadded, unterminated layer: it goes
# through every transport (oci:, oci-archive:, docker-archive:, docker://).
# Then where a tar may end, case by case as Go's archive/tar decides
# (lading-mkimage, from a file and from stdin), and the lenient inputs:
# a plain tar labelled gzip (accepted: the magic decides, as in
# containerd), gzip with trailing garbage and a wrong or missing diff_id
# (refused, as containerd does).
. "$(dirname "$0")/lib.sh"
require_cmd umoci skopeo tar bsdtar gzip pigz zstd setfattr curl
[ -n "${LADING_CONVERT:-}" ] || fail "LADING_CONVERT not set"
here=$(cd "$(dirname "$0")" && pwd)
cd "$WORK"

edit() { python3 "$here/oci_edit.py" img "$@" || fail "oci_edit.py $*"; }

# case_ok NAME SRC [REFTAG]: SRC (oci:img:TAG by default) converts, and its
# mount equals umoci unpack of img:REFTAG (default: the same tag)
case_ok() {
	local name=$1 src=$2 ref=${3:-${2##*:}}
	[[ $src == *:* ]] || src=oci:img:$src
	[ -d "ref-$ref" ] || umoci unpack --image "img:$ref" "ref-$ref" >/dev/null ||
		fail "$name: umoci unpack img:$ref"
	next_seq
	convert_ok "${@:4}" "$src" "oci:conv.$_seq:v1"
	mount_converted "conv.$_seq" v1
	treecmp "ref-$ref/rootfs" "$MNT"
	unmount_image
	log "ok: $name: mount equals umoci unpack"
}

# convert_fails NAME PATTERN SRC: exit 1, one line naming PATTERN
convert_fails() {
	local name=$1 pat=$2 rc=0
	next_seq
	"$LADING_CONVERT" -q "$3" "oci:fail.$_seq:v1" >/dev/null 2>"fail.err" || rc=$?
	[ $rc = 1 ] || { cat fail.err >&2; fail "$name: exit $rc (want 1)"; }
	[ "$(wc -l <fail.err)" = 1 ] || { cat fail.err >&2; fail "$name: not one line"; }
	grep -q -- "$pat" fail.err || fail "$name: no '$pat' in: $(cat fail.err)"
	log "ok: $name refused: $(cat fail.err)"
}

# last_tar_size TAG: bytes of the decompressed last layer of img:TAG
last_tar_size() {
	python3 - "$1" <<'PY'
import gzip, json, sys
ref = sys.argv[1]
idx = json.load(open("img/index.json"))
m = [d for d in idx["manifests"]
     if d["annotations"]["org.opencontainers.image.ref.name"] == ref][0]
man = json.load(open("img/blobs/sha256/" + m["digest"][7:]))
print(len(gzip.decompress(open("img/blobs/sha256/" + man["layers"][-1]["digest"][7:], "rb").read())))
PY
}

# make_src DIR [v7]: a small tree of what layers carry; v7 leaves out
# long names, fifos and xattrs
make_src() {
	local d=$1
	mkdir -p "$d/d1/sub" "$d/emptydir"
	printf 'hello\n' >"$d/d1/hello"
	random_file "$d/d1/sub/r1000" 1000
	random_file "$d/r70k" 70000
	random_file "$d/r511" 511
	random_file "$d/r512" 512
	random_file "$d/r513" 513
	: >"$d/empty"
	ln "$d/r70k" "$d/d1/hardlink"
	ln -s d1/hello "$d/rel"
	ln -s /nowhere "$d/abs"
	truncate -s 3M "$d/sparse"
	printf data | dd of="$d/sparse" bs=1 seek=1500000 conv=notrunc status=none
	chmod 0640 "$d/d1/hello"
	chmod 4755 "$d/r513"
	chown 1234:5678 "$d/r511"
	if [ "${2:-}" != v7 ]; then
		mkdir -p "$d/long/$(long_name n 90)"
		printf 'x\n' >"$d/long/$(long_name n 90)/$(long_name f 90)"
		mkfifo "$d/fifo"
		setfattr -n user.note -v layered "$d/r512"
	fi
	set_mtimes "$d"
}

# ---- 1. umoci: repack, insert, insert --opaque, --whiteout, raw add-layer --
umoci init --layout img
umoci new --image img:base
umoci unpack --image img:base bundle >/dev/null
make_src bundle/rootfs
umoci repack --image img:repack bundle
mkdir -p ins/sub ins2
printf 'inserted\n' >ins/a
random_file ins/sub/b 3000
random_file ins/zz-last 1000	# the last member: 1000 bytes, unpadded
printf 'opaque\n' >ins2/only
random_file ins2/zz-last 777
set_mtimes ins
set_mtimes ins2
umoci insert --image img:repack --tag insert ins /ins
# the case at hand: the layer's tar stops right after the last data byte
n=$(last_tar_size insert)
[ $((n % 512)) != 0 ] || fail "umoci insert wrote a padded layer ($n bytes): nothing to test"
log "umoci insert layer: $n bytes, $((n % 512)) past a block boundary, no end blocks"
umoci insert --image img:insert --tag opaque --opaque ins2 /ins
umoci insert --image img:opaque --tag whiteout --whiteout /d1/sub
make_src src2
bsdtar -cf raw.tar -C src2 .
umoci raw add-layer --image img:whiteout --tag raw raw.tar
for t in repack insert opaque whiteout raw; do
	case_ok "umoci $t" "$t"
done

# the unterminated layer from every transport
tar -C img -cf img.tar .
case_ok "umoci insert via oci-archive:" oci-archive:img.tar:insert insert
skopeo copy -q oci:img:insert docker-archive:insert-docker.tar:real/insert:v1
case_ok "umoci insert via docker-archive:" docker-archive:insert-docker.tar insert
if start_registry "$WORK/reg"; then
	skopeo copy -q --dest-tls-verify=false oci:img:insert \
		"docker://127.0.0.1:$REG_PORT/real/insert:v1"
	case_ok "umoci insert via docker://" "docker://127.0.0.1:$REG_PORT/real/insert:v1" \
		insert --plain-http
	stop_registry
else
	echo "SKIP (part): docker-registry not installed: docker:// not run"
fi

# ---- 2. tar writers, as a layer over the umoci base (raw add-layer) -----
layer() {	# layer TAG NAME [REFTAG]: TAG.tar (of src2) on top of img:repack
	umoci raw add-layer --image img:repack --tag "$1" "$1.tar"
	case_ok "$2" "$1" "${3:-$1}"
}
for f in gnu posix ustar; do
	opts=()
	[ $f = posix ] && opts=(--xattrs)
	tar --format=$f "${opts[@]}" -cf gnutar-$f.tar -C src2 . 2>tar.err ||
		{ cat tar.err; fail "GNU tar --format=$f"; }
	layer gnutar-$f "GNU tar --format=$f"
done
rm -rf src-v7; make_src src-v7 v7
tar --format=v7 -cf gnutar-v7.tar -C src-v7 . || fail "GNU tar --format=v7"
layer gnutar-v7 "GNU tar --format=v7"
tar --format=gnu --sparse -cf sparse-gnu.tar -C src2 .
# umoci 0.4.7 refuses type 'S' (old GNU sparse) entries: the reference is
# the same tree archived without --sparse
layer sparse-gnu "GNU tar --format=gnu --sparse" gnutar-gnu
tar --format=posix --sparse -cf sparse-posix.tar -C src2 .
layer sparse-posix "GNU tar --format=posix --sparse"
tar --format=posix --sparse --sparse-version=1.0 -cf sparse-posix10.tar -C src2 .
layer sparse-posix10 "GNU tar --format=posix --sparse --sparse-version=1.0"
bsdtar -cf bsdtar.tar -C src2 .
layer bsdtar "bsdtar"
python3 - src2 pytar.tar <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[2], "w") as t:
    t.add(sys.argv[1], arcname=".")
PY
layer pytar "Python tarfile"

# ---- 3. compressors and skopeo -------------------------------------------
edit gnutar-posix pigz compress application/vnd.oci.image.layer.v1.tar+gzip pigz -c -p 2 -b 128
case_ok "pigz" pigz gnutar-posix
edit gnutar-posix gz-members concat gzip 3
case_ok "gzip, 3 concatenated members" gz-members gnutar-posix
edit gnutar-posix zstd-T0 compress application/vnd.oci.image.layer.v1.tar+zstd zstd -q -T0 -c
case_ok "zstd -T0" zstd-T0 gnutar-posix
edit gnutar-posix zstd-frames concat zstd 3
case_ok "zstd, 3 concatenated frames" zstd-frames gnutar-posix
edit gnutar-posix plain label application/vnd.oci.image.layer.v1.tar
skopeo copy -q --dest-compress-format gzip oci:img:plain oci:img:skopeo-gzip
case_ok "skopeo copy --dest-compress-format gzip" skopeo-gzip gnutar-posix
skopeo copy -q --dest-compress-format zstd oci:img:plain oci:img:skopeo-zstd
case_ok "skopeo copy --dest-compress-format zstd" skopeo-zstd gnutar-posix

# ---- 4. lenient inputs: what containerd does -------------------------------
edit gnutar-posix plain-as-gzip label application/vnd.oci.image.layer.v1.tar+gzip
case_ok "a plain tar labelled gzip (containerd: the magic decides)" plain-as-gzip gnutar-posix
edit gnutar-posix gz-garbage append 0a747261696c696e672067617262616765
convert_fails "gzip followed by garbage (Go's gzip: invalid header)" \
	"not another gzip member" oci:img:gz-garbage
# cut short inside the 3 MB file's data, as the bulk of the tar is
edit gnutar-posix cut-short compress application/vnd.oci.image.layer.v1.tar+gzip \
	sh -c 'head -c 1600000 | gzip -c'
convert_fails "a layer cut short inside a member" "entry '[^']*': the archive ends inside its data" \
	oci:img:cut-short
edit gnutar-posix bad-diff-id diff-id "$(printf 'not it' | sha256sum | cut -d' ' -f1)"
convert_fails "a wrong diff_id" "layer 2: uncompressed digest" oci:img:bad-diff-id
edit gnutar-posix no-diff-id drop-diff-id
convert_fails "a missing diff_id" "diff_ids has 1 entries for 2 layers" oci:img:no-diff-id

# ---- 5. where a tar may end (lading-mkimage), as Go's archive/tar says ----
# Go's reader (src/archive/tar/reader.go): EOF at a header boundary, inside
# an entry's padding or after one zero block ends the archive; EOF inside
# data, inside a header block or inside the second zero block is
# io.ErrUnexpectedEOF; a zero block then a non-zero one is ErrHeader.
python3 - cut <<'PY'
import io, os, sys, tarfile
os.makedirs(sys.argv[1])
b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
    for name, size in (("d/f", 700), ("g", 1000)):
        ti = tarfile.TarInfo(name); ti.size = size; ti.mtime = 1500000000
        t.addfile(ti, io.BytesIO(name[-1].encode() * size))
full = b.getvalue()
e = io.BytesIO()
with tarfile.open(fileobj=e, mode="w", format=tarfile.USTAR_FORMAT) as t:
    ti = tarfile.TarInfo("empty"); ti.mtime = 1500000000; t.addfile(ti)
H = 1536                      # 'g': header, 1000 bytes of data, padding
P, Z = H + 1536, b"\0" * 512   # where its padding ends; a zero block
cases = [                     # name, bytes, Go accepts (1) or not (0)
    ("full", full, 1), ("no-end-blocks", full[:P], 1),
    ("unpadded", full[:H + 1512], 1), ("part-padding", full[:H + 1520], 1),
    ("one-zero-block", full[:P + 512], 1), ("two-zero-blocks-junk", full[:P] + Z + Z + b"junk", 1),
    ("in-zero-block", full[:P + 100], 0), ("in-second-zero-block", full[:P + 612], 0),
    ("zero-then-data", full[:P] + Z + b"x" * 512, 0), ("after-header", full[:H + 512], 0),
    ("in-data", full[:H + 1000], 0), ("in-data-at-block", full[:H + 1024], 0),
    ("one-byte-short", full[:H + 1511], 0), ("in-header", full[:H + 100], 0),
    ("empty", b"", 1), ("zeros-100", b"\0" * 100, 0),
    ("empty-member-no-end", e.getvalue()[:512], 1),
]
with open(os.path.join(sys.argv[1], "cases"), "w") as f:
    for name, data, ok in cases:
        open(os.path.join(sys.argv[1], name + ".tar"), "wb").write(data)
        print(name, ok, file=f)
PY
build_image cut/full.tar
while read -r name ok; do
	next_seq
	rc=0
	"$LADING_MKIMAGE" -q "$WORK/mk.$_seq" "cut/$name.tar" 2>mk.err || rc=$?
	if [ "$ok" = 1 ]; then
		[ $rc = 0 ] || fail "mkimage $name: exit $rc, Go's archive/tar accepts it: $(cat mk.err)"
		log "ok: $name: accepted"
	else
		[ $rc = 1 ] && [ "$(wc -l <mk.err)" = 1 ] ||
			fail "mkimage $name: exit $rc, Go refuses it: $(cat mk.err)"
		[ ! -e "$WORK/mk.$_seq" ] || fail "mkimage $name: left its output behind"
		log "ok: $name: refused: $(cat mk.err)"
	fi
done <cut/cases
# unpadded and unterminated, from a file and from stdin: the same tree
mount_image	# cut/full.tar, built above
full_mnt=$MNT
MNT=
build_image cut/unpadded.tar
mount_image
treecmp "$full_mnt" "$MNT"
unmount_image
build_image - <cut/unpadded.tar
mount_image
treecmp "$full_mnt" "$MNT"
unmount_image
MNT=$full_mnt
unmount_image
log "ok: an unpadded, unterminated tar from a file and from stdin gives the full tar's tree"
# a member cut short: one line naming the entry, nothing written
expect_mkimage_failure "entry 'g': the archive ends inside its data" cut/in-data.tar
STDIN_FILE=cut/in-data.tar expect_mkimage_failure "stdin: entry 'g'" -
gzip -c cut/in-data.tar >cut/in-data.tar.gz
expect_mkimage_failure "entry 'g': the archive ends inside its data" cut/in-data.tar.gz
