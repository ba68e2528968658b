# shellcheck shell=bash
# Shared helpers for the lading-mkimage integration tests. Source it first:
#     . "$(dirname "$0")/lib.sh"
#
# Every test builds its fixtures in a fresh temp dir (mktemp -d under
# $TMPDIR or /tmp), mounts each image it builds with the kernel (file-backed
# EROFS, lading-testmount) and compares the mount with its source using
# lading-treecmp. Exit status: 0 pass, 1 fail, 77 skip (ctest
# SKIP_RETURN_CODE). A test skips only when mounting is impossible here
# (not root, or no erofs in /proc/filesystems), and says so loudly.
#
# Environment (set by tests/integration/CMakeLists.txt):
#   LADING_MKIMAGE    path to lading-mkimage
#   LADING_TREECMP    path to lading-treecmp   (tests/tools)
#   LADING_TESTMOUNT  path to lading-testmount (tests/tools; LADING_MOUNT is
#                     accepted as an alias)
#
# Debian packages the tests need (besides bash/coreutils/util-linux):
#   python3          fixtures (unix sockets, crafted tars), JSON parsing
#   tar              GNU tar (posix and gnu formats, --sparse, -r)
#   libarchive-tools bsdtar
#   gzip xz-utils zstd bzip2 pigz   compressed tars
#   attr             setfattr/getfattr
#   acl              setfacl
#   libcap2-bin      setcap (security.capability)
#   erofs-utils      fsck.erofs --extract (second reader; optional, that
#                    part is skipped when missing)
#   coreutils        sha256sum, truncate, mknod, mkfifo, ...

set -euo pipefail
umask 022
# An inherited SOURCE_DATE_EPOCH would clamp every mtime and hide bugs;
# tests that want it set it explicitly.
unset SOURCE_DATE_EPOCH

LADING_TESTMOUNT=${LADING_TESTMOUNT:-${LADING_MOUNT:-}}
TEST_NAME=$(basename "$0" .sh)

log() { printf '%s: %s\n' "$TEST_NAME" "$*" >&2; }
fail() { printf 'FAIL: %s: %s\n' "$TEST_NAME" "$*" >&2; exit 1; }
skip() { printf 'SKIP: %s: %s\n' "$TEST_NAME" "$*"; exit 77; }

require_tool() {
	local var=$1 path=${!1:-}
	[ -n "$path" ] || fail "$var is not set (run through ctest, or export it)"
	[ -x "$path" ] || fail "$var=$path is not an executable file"
}

require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 ||
			fail "required command '$c' not found (see the package list in tests/integration/lib.sh)"
	done
}

# ---- work dir and cleanup --------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lading-it-$TEST_NAME.XXXXXX")

# Unmount everything below $WORK (deepest first), then remove it.
cleanup_work() {
	local rc=$? m
	stop_registry
	for m in $(awk -v w="$WORK" 'index($2, w "/") == 1 { print $2 }' /proc/self/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	if [ -n "${KEEP_WORK:-}" ]; then
		echo "work dir kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit $rc
}
trap cleanup_work EXIT
trap 'exit 130' INT TERM

require_tool LADING_MKIMAGE
require_tool LADING_TREECMP
require_tool LADING_TESTMOUNT
require_cmd python3

# Tests that mount (all but those setting NEEDS_MOUNT=0 before sourcing this
# file) skip up front, loudly, where mounting is impossible: their fixtures
# also need root (mknod, chown, trusted.* xattrs).
if [ "${NEEDS_MOUNT:-1}" = 1 ]; then
	[ "$(id -u)" = 0 ] || skip "needs root (mount(2), mknod, chown)"
	grep -qw erofs /proc/filesystems || skip "erofs is not in /proc/filesystems"
fi

_seq=0
next_seq() { _seq=$((_seq + 1)); }

# ---- building --------------------------------------------------------------

# Result of the last build_image:
IMG_BOOT=   # bootstrap path
IMG_BLOB=   # blob path, empty when the image has no blob
IMG_BLOB_ID= # 64-hex blob id or empty
IMG_JSON=   # path of the --json report
IMG_OUT=    # output directory (bootstrap's dir)
IMG_BLOB_DIR= # where the blob went

# json_get FILE KEY: print a top-level key of a JSON file ("" for null).
json_get() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print("" if v is None else (str(v).lower() if isinstance(v, bool) else v))
EOF
}

# Blob dir from an option list: -b DIR / --blob-dir DIR / --blob-dir=DIR.
_blob_dir_from_opts() {
	local dir=$1; shift
	while [ $# -gt 0 ]; do
		case $1 in
		-b|--blob-dir) dir=$2; shift ;;
		--blob-dir=*) dir=${1#--blob-dir=} ;;
		-b?*) dir=${1#-b} ;;
		esac
		shift
	done
	printf '%s\n' "$dir"
}

# build_image SRC [mkimage options...]
# Builds into a fresh $WORK/out.N/boot.img; SRC may be '-' (stdin is
# passed through). Fails the test unless mkimage exits 0, the --json report
# names the blob, the blob's name is the sha256 of its bytes and the
# output dirs hold nothing but the bootstrap and the blob.
build_image() {
	local src=$1; shift
	local rc=0 blob_dir
	next_seq
	IMG_OUT=$WORK/out.$_seq
	mkdir -p "$IMG_OUT"
	IMG_BOOT=$IMG_OUT/boot.img
	IMG_JSON=$WORK/report.$_seq.json
	"$LADING_MKIMAGE" --json "$@" "$IMG_BOOT" "$src" >"$IMG_JSON" 2>"$WORK/stderr.$_seq" || rc=$?
	if [ $rc -ne 0 ]; then
		cat "$WORK/stderr.$_seq" >&2
		fail "lading-mkimage $* $IMG_BOOT $src: exit $rc"
	fi
	[ -f "$IMG_BOOT" ] || fail "bootstrap $IMG_BOOT not written"
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$IMG_JSON" ||
		fail "--json output is not valid JSON: $(head -c 500 "$IMG_JSON")"
	IMG_BLOB_ID=$(json_get "$IMG_JSON" blob_id)
	blob_dir=$(_blob_dir_from_opts "$IMG_OUT" "$@")
	IMG_BLOB=
	if [ -n "$IMG_BLOB_ID" ]; then
		[[ $IMG_BLOB_ID =~ ^[0-9a-f]{64}$ ]] || fail "blob_id '$IMG_BLOB_ID' is not 64 lowercase hex"
		IMG_BLOB=$blob_dir/$IMG_BLOB_ID
		[ -f "$IMG_BLOB" ] || fail "blob $IMG_BLOB named by --json does not exist"
		local sum
		sum=$(sha256sum "$IMG_BLOB" | cut -d' ' -f1)
		[ "$sum" = "$IMG_BLOB_ID" ] || fail "blob name $IMG_BLOB_ID != sha256 of its bytes $sum"
		local jsize
		jsize=$(json_get "$IMG_JSON" blob_size)
		[ "$jsize" = "$(stat -c %s "$IMG_BLOB")" ] ||
			fail "--json blob_size $jsize != size of $IMG_BLOB ($(stat -c %s "$IMG_BLOB"))"
	fi
	assert_only_outputs "$IMG_OUT" boot.img ${IMG_BLOB_ID:+"$IMG_BLOB_ID"}
	if [ "$blob_dir" != "$IMG_OUT" ] && [ -d "$blob_dir" ]; then
		assert_only_outputs "$blob_dir" boot.img ${IMG_BLOB_ID:+"$IMG_BLOB_ID"}
	fi
	IMG_BLOB_DIR=$blob_dir
	verify_against_source "$src" "$@"
}

# The mkimage options that change what the image should hold, as
# lading-verify options (the build policy to apply to the source).
_verify_policy_opts() {
	while [ $# -gt 0 ]; do
		case $1 in
		-T|--mtime|--uid|--gid) printf '%s\n%s\n' "$1" "$2"; shift ;;
		--mtime=*|--uid=*|--gid=*|--nsec|--all-root) printf '%s\n' "$1" ;;
		-T?*) printf '%s\n' "$1" ;;
		esac
		shift
	done
}

# verify_against_source SRC [mkimage options...]: lading-verify must accept
# the last build, its blob and its equality with SRC (not for stdin).
verify_against_source() {
	local src=$1 rc=0; shift
	[ -n "${LADING_VERIFY:-}" ] || return 0
	[ "$src" != - ] || return 0
	local -a vopts
	mapfile -t vopts < <(_verify_policy_opts "$@")
	"$LADING_VERIFY" --json -b "$IMG_BLOB_DIR" --source "$src" "${vopts[@]}" \
		"$IMG_BOOT" >"$WORK/verify.$_seq.json" 2>"$WORK/verify-err.$_seq" || rc=$?
	if [ $rc -ne 0 ]; then
		cat "$WORK/verify-err.$_seq" "$WORK/verify.$_seq.json" >&2
		fail "lading-verify --source $src ${vopts[*]} $IMG_BOOT: exit $rc"
	fi
}

# verify_extract_matches_mount: lading-verify --extract of the last build
# must equal what the kernel shows for it (reader and kernel agree).
verify_extract_matches_mount() {
	local rc=0 out
	[ -n "${LADING_VERIFY:-}" ] || return 0
	out=$WORK/extract.$_seq
	"$LADING_VERIFY" -q --no-blob-digest -b "$IMG_BLOB_DIR" --extract "$out" \
		"$IMG_BOOT" 2>"$WORK/extract-err.$_seq" || rc=$?
	if [ $rc -ne 0 ]; then
		cat "$WORK/extract-err.$_seq" >&2
		fail "lading-verify --extract $out $IMG_BOOT: exit $rc"
	fi
	treecmp "$MNT" "$out" --nsec
	rm -rf "$out"
}

# assert_only_outputs DIR NAME...: DIR holds no file but the listed names.
assert_only_outputs() {
	local dir=$1 f n ok want; shift
	for f in "$dir"/* "$dir"/.[!.]* "$dir"/..?*; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		n=${f##*/}
		ok=
		for want in "$@"; do [ "$n" = "$want" ] && ok=1; done
		[ -n "$ok" ] || fail "unexpected file left in $dir: $n"
	done
}

# ---- mounting and comparing ------------------------------------------------

MNT=   # mountpoint of the current mount_image, empty if none

# mount_image [BOOT [BLOB...]]: mount (default: the last build) read-only.
mount_image() {
	local boot=${1:-$IMG_BOOT} rc=0 err
	local -a blobs
	if [ $# -gt 1 ]; then blobs=("${@:2}"); else blobs=(${IMG_BLOB:+"$IMG_BLOB"}); fi
	next_seq
	MNT=$WORK/mnt.$_seq
	mkdir -p "$MNT"
	err=$WORK/mount-err.$_seq
	"$LADING_TESTMOUNT" "$boot" "$MNT" "${blobs[@]}" 2>"$err" || rc=$?
	case $rc in
	0) ;;
	77) skip "cannot mount here: $(cat "$err")" ;;
	*)
		cat "$err" >&2
		dmesg 2>/dev/null | tail -n 5 >&2 || true
		fail "mounting $boot failed (exit $rc)"
		;;
	esac
}

unmount_image() {
	[ -n "$MNT" ] || return 0
	"$LADING_TESTMOUNT" -u "$MNT" || fail "unmounting $MNT failed"
	MNT=
}

# treecmp SRC DST [opts]: fail with the difference list unless equal.
treecmp() {
	local src=$1 dst=$2 rc=0; shift 2
	"$LADING_TREECMP" "$@" "$src" "$dst" >"$WORK/treecmp.out" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		cat "$WORK/treecmp.out" >&2
		fail "trees differ (lading-treecmp $* $src $dst: exit $rc)"
	fi
}

# mount_and_compare SRC_TREE [treecmp opts...]: mount the last build,
# compare it with SRC_TREE, unmount.
mount_and_compare() {
	local src=$1; shift
	mount_image
	treecmp "$src" "$MNT" "$@"
	verify_extract_matches_mount
	unmount_image
	log "ok: mount of $IMG_BOOT matches $src${*:+ ($*)}"
}

# fsck_extract_check SRC_TREE [treecmp opts...]
# Second reader: fsck.erofs --extract (Debian erofs-utils 1.5) of the last
# build, compared with SRC_TREE. fsck.erofs 1.5 cannot reproduce
# everything (checked against images from its own mkfs.erofs 1.5):
#   --no-mtime    it predates the compact inode's i_mtime field (feature
#                 compat MTIME): it gives every compact inode the
#                 superblock's epoch as mtime
#   --no-xattrs   it extracts no xattrs (so no ACLs, no capabilities)
#   --no-nlink    it extracts every hard link as a separate file
#   a file whose last chunk is a hole: it ends the file before the hole
#                 (the kernel and lading-verify keep the size); callers
#                 avoid such files here
#   setuid/setgid bits of non-directories: it chmods before it chowns, and
#                 chown clears them; the comparison uses a copy of SRC_TREE
#                 without those bits
# Types, bytes, symlink targets, rdev, owners, other mode bits and the
# directory tree itself are checked. Skips just this part (not the test) without fsck.erofs.
fsck_extract_check() {
	local src=$1 out ref rc=0; shift
	if ! command -v fsck.erofs >/dev/null 2>&1; then
		echo "SKIP (part): $TEST_NAME: fsck.erofs not installed (erofs-utils); extract check not run"
		return 0
	fi
	next_seq
	out=$WORK/extract.$_seq
	fsck.erofs ${IMG_BLOB:+"--device=$IMG_BLOB"} --extract="$out" "$IMG_BOOT" \
		>"$WORK/fsck.$_seq.log" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		cat "$WORK/fsck.$_seq.log" >&2
		fail "fsck.erofs --extract of $IMG_BOOT failed (exit $rc)"
	fi
	ref=$src
	if [ -n "$(find "$src" ! -type d -perm /6000 -print -quit)" ]; then
		ref=$WORK/fsck-ref.$_seq
		cp -a "$src" "$ref"
		find "$ref" ! -type d ! -type l -perm /6000 -exec chmod ug-s {} +
	fi
	treecmp "$ref" "$out" --no-mtime --no-xattrs --no-nlink "$@"
	rm -rf "$out"
	[ "$ref" = "$src" ] || rm -rf "$ref"
	log "ok: fsck.erofs --extract matches $src"
}

# expect_mkimage_failure NAME_IN_STDERR SRC [opts...]
# mkimage must exit 1, print something on stderr (containing
# NAME_IN_STDERR if not empty) and leave nothing behind: neither the
# bootstrap, nor a blob, nor temp files, in the bootstrap dir or blob dir.
expect_mkimage_failure() {
	local name=$1 src=$2 rc=0 out blobs err; shift 2
	next_seq
	out=$WORK/fail-out.$_seq
	blobs=$WORK/fail-blobs.$_seq
	err=$WORK/fail-stderr.$_seq
	mkdir -p "$out" "$blobs"
	"$LADING_MKIMAGE" "$@" "$out/boot.img" "$src" >/dev/null 2>"$err" <"${STDIN_FILE:-/dev/null}" || rc=$?
	_check_failure "$name" "$rc" "$err" "$out" "$src"
	# once more with the blob dir elsewhere
	rc=0
	"$LADING_MKIMAGE" -b "$blobs" "$@" "$out/boot.img" "$src" >/dev/null 2>"$err" <"${STDIN_FILE:-/dev/null}" || rc=$?
	_check_failure "$name" "$rc" "$err" "$blobs" "$src (-b)"
	assert_only_outputs "$out"
}

_check_failure() {
	local name=$1 rc=$2 err=$3 dir=$4 what=$5
	[ "$rc" -eq 1 ] || { cat "$err" >&2; fail "$what: expected exit 1, got $rc"; }
	[ -s "$err" ] || fail "$what: exit 1 but nothing on stderr"
	if [ -n "$name" ] && ! grep -qF -- "$name" "$err"; then
		cat "$err" >&2
		fail "$what: stderr does not name the entry '$name'"
	fi
	assert_only_outputs "$dir"
	log "ok: $what rejected: $(head -n 1 "$err")"
}

# ---- converted images (lading-convert) ------------------------------------

# manifest_layers LAYOUT REF [blobs]: blob paths of the image's layers, in
# order (blobs: the data blobs only)
manifest_layers() {
	python3 - "$@" <<'PY'
import json, sys
lay, ref = sys.argv[1], sys.argv[2]
idx = json.load(open(lay + "/index.json"))
m = [d for d in idx["manifests"]
     if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref][0]
man = json.load(open(lay + "/blobs/sha256/" + m["digest"].split(":")[1]))
for l in man["layers"]:
    if len(sys.argv) < 4 or l["mediaType"] == "application/vnd.lading.blob.v1":
        print(lay + "/blobs/sha256/" + l["digest"].split(":")[1])
PY
}

# mount_converted LAYOUT REF: the node's path: lading-prepare resolves
# oci:LAYOUT:REF (the bootstrap layer, plain or zstd, checked into the
# cache by its id) and seeds the cache from the layout's blobs (compressed
# or not), then the bootstrap is mounted with the cache files as device=,
# in slot order
mount_converted() {
	local -a files devs
	local cache f boot
	mapfile -t files < <(manifest_layers "$1" "$2" blobs)
	next_seq
	cache=$WORK/cache.$_seq
	"${LADING_PREPARE:?}" --json --seed-from "$1/blobs/sha256" "oci:$1:$2" "$cache" \
		>"$cache.json" || fail "lading-prepare of $1:$2"
	boot=$(python3 -c "import json;print(json.load(open('$cache.json'))['bootstrap_digest'][7:])")
	for f in "${files[@]}"; do devs+=("$cache/${f##*/}"); done
	mount_image "$cache/$boot" "${devs[@]}"
}

# convert_ok ARGS...: run lading-convert --json into $WORK/conv.json
convert_ok() {
	"${LADING_CONVERT:?}" --json "$@" >"$WORK/conv.json" 2>"$WORK/conv.err" ||
		{ cat "$WORK/conv.err" >&2; fail "lading-convert $*"; }
}
jget() { python3 -c "import json,sys;print(json.load(open('$WORK/conv.json'))$1)"; }

# start_registry DIR: Debian's docker-registry on a free 127.0.0.1 port
# (sets $REG_PORT, $REG_PID; storage under DIR); stop_registry ends it.
# Returns 1 when docker-registry is not installed.
start_registry() {
	command -v docker-registry >/dev/null 2>&1 || return 1
	REG_PORT=$((20000 + RANDOM % 20000))
	mkdir -p "$1"
	cat >"$1/config.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $1/data
http:
  addr: 127.0.0.1:$REG_PORT
YML
	docker-registry serve "$1/config.yml" >"$1/log" 2>&1 &
	REG_PID=$!
	wait_registry "$REG_PORT" "$REG_PID" "$1/log" || { stop_registry; exit 1; }
}
# wait_registry PORT PID LOG: until the registry answers /v2/ (30 s at most:
# a loaded machine starts it slowly); fails naming its log when it died or
# never answered.
wait_registry() {
	for _ in $(seq 1 300); do
		curl -s -o /dev/null "http://127.0.0.1:$1/v2/" && return 0
		kill -0 "$2" 2>/dev/null || { printf 'FAIL: %s: docker-registry on 127.0.0.1:%s exited: %s\n' \
			"$TEST_NAME" "$1" "$(tail -3 "$3")" >&2; return 1; }
		sleep 0.1
	done
	printf 'FAIL: %s: docker-registry did not answer on 127.0.0.1:%s\n' "$TEST_NAME" "$1" >&2
	return 1
}
stop_registry() {
	[ -n "${REG_PID:-}" ] || return 0
	kill "$REG_PID" 2>/dev/null || true
	wait "$REG_PID" 2>/dev/null || true
	REG_PID=
}

# ---- fixtures --------------------------------------------------------------

# make_socket PATH: a unix socket inode.
make_socket() {
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$1"
}

# random_file PATH SIZE
random_file() { head -c "$2" /dev/urandom >"$1"; }
# flip_bytes FILE OFFSET [COUNT]: damage that always changes the bytes
flip_bytes() { python3 "$(dirname "${BASH_SOURCE[0]}")/../tools/flip_bytes.py" "$@"; }

long_name() { printf "%${2}s" "" | tr ' ' "$1"; }

# set_mtimes DIR: give every entry a distinct, older mtime (deepest first,
# so that later changes to children do not touch parents).
set_mtimes() {
	python3 - "$1" <<'EOF'
import os, sys
root = sys.argv[1]
t = 1500000000
for d, dirs, files in os.walk(root, topdown=False):
    for n in sorted(files) + sorted(dirs):
        t += 7
        os.utime(os.path.join(d, n), ns=(t * 10**9, t * 10**9 + 123456789), follow_symlinks=False)
os.utime(root, ns=(1400000000 * 10**9, 1400000000 * 10**9 + 5), follow_symlinks=False)
EOF
}

# make_tree DIR [tar]: every inode type and metadata lading must keep.
# With "tar", leave out what tars cannot carry: sockets (GNU tar and bsdtar
# skip them) and hard-linked fifos (GNU tar archives each link as a
# separate fifo).
make_tree() {
	local d=$1 fortar=${2:-}
	require_cmd setfattr setfacl setcap mknod mkfifo
	mkdir -p "$d"
	# regular files, sizes around the block size
	: >"$d/empty"
	printf x >"$d/one"
	random_file "$d/r4095" 4095
	random_file "$d/r4096" 4096
	random_file "$d/r4097" 4097
	random_file "$d/r100k" 100000
	printf 'hello\n' >"$d/with space"
	printf 'u\n' >"$d/ünïcødé"
	printf 'dash\n' >"$d/-dash"
	# directories, empty and nested
	mkdir -p "$d/emptydir" "$d/a/b/c/d" "$d/sticky" "$d/setgid-dir" "$d/acl-dir"
	printf 'deep\n' >"$d/a/b/c/d/deep"
	# symlinks: relative, absolute, dangling, to a dir, long target
	ln -s r4096 "$d/link-rel"
	ln -s /etc/passwd "$d/link-abs"
	ln -s does/not/exist "$d/link-dangling"
	ln -s a/b "$d/link-dir"
	ln -s "$(long_name t 1000)" "$d/link-long"
	ln -s "$(long_name u 4095)" "$d/link-4095"
	# devices, fifo, socket
	mknod "$d/null-chr" c 1 3
	mknod "$d/loop-blk" b 7 0
	mknod "$d/bigdev" c 259 1048575
	mkfifo "$d/fifo"
	[ -n "$fortar" ] || make_socket "$d/socket"
	# hardlink groups: across directories, of empty files and of a fifo
	random_file "$d/a/hl1" 5000
	ln "$d/a/hl1" "$d/a/b/hl2"
	ln "$d/a/hl1" "$d/hl3"
	: >"$d/hl-empty1"
	ln "$d/hl-empty1" "$d/a/hl-empty2"
	if [ -z "$fortar" ]; then
		mkfifo "$d/a/hl-fifo1"
		ln "$d/a/hl-fifo1" "$d/a/b/hl-fifo2"
	fi
	# 255-byte names (file, dir, symlink)
	printf 'long\n' >"$d/$(long_name n 255)"
	mkdir "$d/a/$(long_name D 255)"
	printf 'x\n' >"$d/a/$(long_name D 255)/$(long_name f 255)"
	ln -s one "$d/a/$(long_name L 255)"
	# xattrs
	setfattr -n user.one -v 1 "$d/one"
	setfattr -n user.empty "$d/one"
	setfattr -n user.bin -v 0x00ff00ff00 "$d/one"
	setfattr -n user.big -v "$(long_name v 2000)" "$d/r4097"
	local i
	for i in $(seq 1 20); do setfattr -n "user.many$i" -v "value$i" "$d/r4096"; done
	setfattr -n trusted.t -v trusted-value "$d/a"
	setfattr -n trusted.link -v on-a-symlink -h "$d/link-rel"
	setfattr -n user.dir -v dir-value "$d/emptydir"
	setfattr -n user.hl -v shared "$d/a/hl1"
	# POSIX ACLs (access + default)
	setfacl -m u:1234:rwx,g:5678:r-x,m::rwx "$d/r100k"
	setfacl -m u:4321:r-x "$d/acl-dir"
	setfacl -d -m u:1234:rwx,g:5678:r-x "$d/acl-dir"
	# owners (> 65535 needs extended inodes), then modes, then caps
	# (chown clears setuid and security.capability)
	chown 70000:80000 "$d/r4095"
	chown 3000000000:4000000000 "$d/a/b"
	chown -h 12345:54321 "$d/link-abs"
	chown 1:2 "$d/fifo"
	install -m 0755 /dev/null "$d/suid"
	install -m 0755 /dev/null "$d/sgid"
	install -m 0755 /dev/null "$d/capfile"
	printf '#!/bin/sh\n' >"$d/suid"
	chmod 4755 "$d/suid"
	chmod 2755 "$d/sgid"
	chmod 1777 "$d/sticky"
	chmod 2775 "$d/setgid-dir"
	chmod 0000 "$d/one"
	install -m 0644 /dev/null "$d/allbits"
	chmod 7777 "$d/allbits"
	chmod 0700 "$d/a/b/c"
	setcap cap_net_raw,cap_net_admin+ep "$d/capfile"
	set_mtimes "$d"
}

# make_bigdir DIR N: a directory with N entries of varied name lengths.
make_bigdir() {
	mkdir -p "$1"
	python3 - "$1" "$2" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    name = "e%05d" % i + "x" * (i % 40)
    p = os.path.join(d, name)
    if i % 1000 == 7:
        os.mkdir(p)
    else:
        open(p, "w").close()
EOF
}

# clamp_mtimes DIR EPOCH: set every mtime > EPOCH to EPOCH (no nsec).
clamp_mtimes() {
	python3 - "$1" "$2" <<'EOF'
import os, sys
root, e = sys.argv[1], int(sys.argv[2])
paths = [root]
for d, dirs, files in os.walk(root):
    paths += [os.path.join(d, n) for n in dirs + files]
for p in paths:
    st = os.lstat(p)
    if st.st_mtime_ns > e * 10**9:
        os.utime(p, ns=(st.st_atime_ns, e * 10**9), follow_symlinks=False)
EOF
}

# chown_tree DIR UID GID: every owner to UID:GID, keeping modes (incl.
# setuid/setgid, which chown clears) and security.capability (likewise).
chown_tree() {
	python3 - "$@" <<'PYEOF'
import os, stat, sys
root, uid, gid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
paths = [root]
for d, dirs, files in os.walk(root):
    paths += [os.path.join(d, n) for n in dirs + files]
for p in paths:
    st = os.lstat(p)
    try:
        cap = os.getxattr(p, "security.capability", follow_symlinks=False)
    except OSError:
        cap = None
    os.chown(p, uid, gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(p, stat.S_IMODE(st.st_mode))
    if cap is not None:
        os.setxattr(p, "security.capability", cap, follow_symlinks=False)
PYEOF
}

# save_mtime PATH / restore_mtime PATH: keep a directory's mtime across
# changes to its entries.
save_mtime() { stat -c '%.9Y' "$1" >"$WORK/.mtime.$(printf '%s' "$1" | sha256sum | cut -c1-16)"; }
restore_mtime() {
	touch -h -d "@$(cat "$WORK/.mtime.$(printf '%s' "$1" | sha256sum | cut -c1-16)")" "$1"
}

# make_long_paths DIR: a path longer than 1 KiB (needs PAX / GNU long
# names) and symlinks with long targets.
make_long_paths() {
	local d=$1 p i
	p=$d
	for i in 1 2 3 4 5 6; do p=$p/$(long_name "$i" 200); done
	mkdir -p "$p"
	printf 'deep\n' >"$p/$(long_name f 250)"
	ln -s "$(long_name t 2000)" "$p/long-target"
	ln -s "${p#"$d"/}" "$d/link-to-deep"
	ln "$p/$(long_name f 250)" "$d/hardlink-to-deep"
}

# start_filler REF CACHE [OPTS...]: lading-fill mount REF (fanotify, --json,
# $FILL_OPTS) in the background on a new $MNT; its report goes to $STATS,
# its log to $ERR.  Skips where the back end is unavailable.  (A test that
# serves one bootstrap throughout redefines start_filler over mount_filler.)
FILLER=
start_filler() { mount_filler "$@"; }
mount_filler() {
	local ref=$1 cache=$2; shift 2
	next_seq
	MNT=$WORK/mnt.$_seq
	STATS=$WORK/stats.$_seq.json
	ERR=$WORK/fill.$_seq.err
	mkdir -p "$MNT"
	# shellcheck disable=SC2086
	"$LADING_FILL" mount --backend fanotify --json ${FILL_OPTS:-} "$@" "$ref" \
		"$MNT" --cache "$cache" >"$STATS" 2>"$ERR" &
	FILLER=$!
	for _ in $(seq 1 150); do
		grep -q " $MNT " /proc/mounts && return 0
		if ! kill -0 $FILLER 2>/dev/null; then
			grep -q "back end unavailable" "$ERR" && skip "$(cat "$ERR")"
			fail "lading-fill $ref exited: $(cat "$ERR")"
		fi
		sleep 0.1
	done
	fail "lading-fill did not mount $ref: $(cat "$ERR")"
}
# stop_filler: SIGTERM (unmount, report), and it must exit 0, unmounted
stop_filler() {
	kill -TERM $FILLER
	wait $FILLER || fail "lading-fill exit $? ($(cat "$ERR"))"
	! grep -q " $MNT " /proc/mounts || fail "$MNT still mounted after SIGTERM"
	FILLER=
	MNT=
}
# read_all_or_eio MNT REFDIR: reads every file under MNT (a filler's
# mount): one that reads must equal its copy under REFDIR, one that does
# not must fail with EIO, nothing else; sets READ_OK and READ_EIO.  A wrong
# byte or another error stops the filler and fails.
read_all_or_eio() {
	local mnt=$1 ref=$2 f rel out
	READ_OK=0 READ_EIO=0
	while IFS= read -r -d '' f; do
		rel=${f#"$mnt"/}
		if out=$(cat "$f" 2>&1 >"$WORK/read.tmp"); then
			cmp -s "$WORK/read.tmp" "$ref/$rel" || { stop_filler; fail "$rel read wrong bytes"; }
			READ_OK=$((READ_OK + 1))
		else
			case $out in *"Input/output error"*) READ_EIO=$((READ_EIO + 1)) ;;
			*) stop_filler; fail "$rel: $out" ;; esac
		fi
	done < <(find "$mnt" -type f -print0)
}
# sget KEY: a top-level value of the last filler's report ('' if null)
sget() { python3 -c "import json;v=json.load(open('$STATS')).get('$1');print('' if v is None else v)"; }
# live_stats: the running filler's "requests hits chunks_fetched" (SIGUSR1
# makes it print one JSON line on $ERR)
live_stats() {
	local n
	n=$(grep -c '^{' "$ERR" || true)
	kill -USR1 $FILLER
	for _ in $(seq 1 50); do
		[ "$(grep -c '^{' "$ERR" || true)" -gt "$n" ] && break
		sleep 0.1
	done
	grep '^{' "$ERR" | tail -1 | python3 -c \
		'import json,sys; s=json.load(sys.stdin); print(s["requests"], s["hits"], s["chunks_fetched"])'
}
# wait_fetched N: polls live_stats (up to 10 s) until the running filler
# has fetched N chunks or more; sets req0 hits0 chunks0 to the last figures
wait_fetched() {
	for _ in $(seq 1 100); do
		read -r req0 hits0 chunks0 <<<"$(live_stats)"
		[ "$chunks0" -ge "$1" ] && return 0
		sleep 0.1
	done
}
# wait_completed N WHAT: asks the running filler for reports (SIGUSR1) for
# up to 10 s until one says N blobs are complete; else stops it and fails
# saying WHAT was not completed
wait_completed() {
	for _ in $(seq 1 100); do
		kill -USR1 $FILLER
		sleep 0.1
		grep -q "\"blobs_completed\": $1" "$ERR" && return 0
	done
	stop_filler
	fail "prefetch did not complete $2"
}
# data_bytes FILE: bytes of FILE that are data, not holes (SEEK_DATA/SEEK_HOLE)
data_bytes() {
	python3 - "$1" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); size = os.fstat(fd).st_size; off = n = 0
while off < size:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE); n += h - d; off = h
print(n)
PY
}
