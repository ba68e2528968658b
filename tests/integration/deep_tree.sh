#!/bin/bash
# A tree 100 000 directories deep (issue 11, hostile input 1): one tar
# entry whose path is 200 KB, a symlink beside it (both with an xattr) and
# a hardlink to it at the top; also as a GNU tar (long names as
# ././@LongLink).  Every tool must handle it with a small stack and few
# descriptors (nothing recurses on the depth, nothing holds an fd per
# level, no path is resolved whole): mkimage, verify, verify --source,
# verify --extract, mkimage and verify --source of the extracted directory
# (the dir walker; its image must be the same bytes), convert of an OCI
# layout holding the tar (the same bootstrap), the kernel mounting the
# image and reading the deepest file, and an upper layer's opaque whiteout
# removing the whole chain.  The old code died here with SIGSEGV.
. "$(dirname "$0")/lib.sh"
[ -n "${LADING_VERIFY:-}" ] || fail "LADING_VERIFY not set"
[ -n "${LADING_CONVERT:-}" ] || fail "LADING_CONVERT not set"
here=$(cd "$(dirname "$0")" && pwd)
depth=100000

# 1 MiB of stack and 64 descriptors: enough for any depth without recursion
ulimit -s 1024
ulimit -n 64

# run NAME CMD...: CMD must exit 0 (a crash shows as its signal)
run() {
	local name=$1 rc=0; shift
	"$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
	if [ $rc -ne 0 ]; then
		cat "$WORK/$name.err" >&2
		[ $rc -gt 128 ] && fail "$name: killed by signal $((rc - 128)): $*"
		fail "$name: exit $rc: $*"
	fi
}

# read_deepest ROOT: the deepest file's bytes, reached level by level
read_deepest() {
	python3 - "$1" "$depth" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
for _ in range(int(sys.argv[2])):
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    os.close(fd)
    fd = nfd
f = os.open("deepest", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
st, top = os.fstat(f), os.stat(os.path.join(sys.argv[1], "top"))
if (st.st_ino, st.st_nlink) != (top.st_ino, 2):
    sys.exit("deepest and top are not one file with 2 links")
if os.readlink("link", dir_fd=fd) != "deepest":
    sys.exit("the deepest symlink lost its target")
# xattrs of any depth: through the directory's fd
proc = "/proc/self/fd/%d/" % fd
if (os.getxattr(proc + "deepest", "user.deep", follow_symlinks=False) != b"1" or
        os.getxattr(proc + "link", "trusted.deep", follow_symlinks=False) != b"2"):
    sys.exit("xattrs of the deepest entries lost")
sys.stdout.write(os.read(f, 100).decode())
PY
}

# the extract on a tmpfs: 100 000 mkdir and rmdir on a loaded disk take
# tens of seconds (images stay on disk: file-backed EROFS needs page cache)
mkdir "$WORK/t"
mount -t tmpfs -o size=1g,mode=0700 tmpfs "$WORK/t" ||
	log "no tmpfs here: extracting on disk (slower)"
x=$WORK/t/x
cd "$WORK"
python3 "$here/../tools/deep_tar.py" $depth pax deep.tar --hardlink top --symlink --xattrs
python3 "$here/../tools/deep_tar.py" $depth gnu deep-gnu.tar --hardlink top --symlink

# ---- mkimage, verify, verify --source ------------------------------------
mkdir out
run mkimage "$LADING_MKIMAGE" -q out/boot.img deep.tar
assert_only_outputs out boot.img
run verify "$LADING_VERIFY" out/boot.img
grep -q "^$((depth + 3)) inodes" "$WORK/verify.out" ||
	fail "verify counts: $(cat "$WORK/verify.out")"
run verify-source "$LADING_VERIFY" --source deep.tar out/boot.img
mkdir out-gnu
run mkimage-gnu "$LADING_MKIMAGE" -q out-gnu/boot.img deep-gnu.tar
run verify-gnu "$LADING_VERIFY" --source deep-gnu.tar out-gnu/boot.img
log "ok: mkimage, verify, verify --source"

# ---- verify --extract, then the extracted directory as a source ----------
run extract "$LADING_VERIFY" -q --extract "$x" out/boot.img
assert_only_outputs "$x" d top
[ "$(read_deepest "$x")" = deepest ] || fail "extracted deepest file: wrong bytes"
mkdir out-dir
run mkimage-dir "$LADING_MKIMAGE" -q out-dir/boot.img "$x"
cmp -s out/boot.img out-dir/boot.img ||
	fail "the extracted tree gives a different image than the tar"
run verify-dir "$LADING_VERIFY" --source "$x" out/boot.img
log "ok: verify --extract, mkimage and verify --source of the extract"

# ---- convert --------------------------------------------------------------
python3 "$here/make_oci.py" lay v1 deep.tar
run convert "$LADING_CONVERT" -q oci:lay:v1 oci:conv:lading
boot_id=$(sha256sum out/boot.img | cut -d' ' -f1)
cmp -s out/boot.img "conv/blobs/sha256/$boot_id" ||
	fail "convert's bootstrap differs from mkimage's"
log "ok: convert"

# an upper layer makes d opaque: the whole deep chain below it goes
python3 - opq.tar <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as tar:
    for name, data in (("d/.wh..wh..opq", b""), ("d/new", b"new\n")):
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime = len(data), 1000000000
        tar.addfile(ti, io.BytesIO(data))
PY
python3 "$here/make_oci.py" lay2 v1 deep.tar opq.tar
run convert-opq "$LADING_CONVERT" -q oci:lay2:v1 oci:conv2:lading
opq_boot=$(python3 - conv2 <<'PY'
import json, sys
lay = sys.argv[1]
idx = json.load(open(lay + "/index.json"))
man = json.load(open(lay + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
print(lay + "/blobs/sha256/" + man["layers"][-1]["digest"][7:])
PY
)
mount_image "$opq_boot"
[ "$(ls -A "$MNT/d")" = new ] || fail "opaque d holds: $(ls -A "$MNT/d" | head -c 200)"
[ "$(cat "$MNT/top")" = deepest ] || fail "top lost its bytes"
unmount_image
log "ok: an opaque whiteout over the deep chain"

# ---- the kernel -------------------------------------------------------------
mount_image out/boot.img
[ "$(read_deepest "$MNT")" = deepest ] || fail "mounted deepest file: wrong bytes"
treecmp "$MNT" "$x" --nsec
unmount_image
log "ok: mounted, the deepest file read, the mount equals the extract"
