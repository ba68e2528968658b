#!/bin/bash
# Build erofs-utils (default 1.9.3, multithreaded) for bench/run.sh, outside
# the repository:  MKFS_EROFS=PREFIX/bin/mkfs.erofs bench/run.sh
#
# usage: bench/build-erofs-utils.sh [--src DIR | --git GITDIR] [--prefix DIR]
#
#   --src DIR     an unpacked erofs-utils source tree (e.g. a release tarball)
#   --git GITDIR  a clone or bare mirror of erofs-utils; tag v$VERSION is
#                 exported from it with git archive
#   (neither)     download the v$VERSION tarball from git.kernel.org
#   --prefix DIR  install prefix (default /var/tmp/erofs-utils-$VERSION)
#
# Environment: EROFS_UTILS_VERSION (default 1.9.3), TMPDIR (build dir
# parent, default /var/tmp), MAKEFLAGS (default -j$(nproc)).
# Needs: autoconf automake libtool pkg-config, a C compiler, uuid-dev,
# liblz4-dev liblzma-dev zlib1g-dev libssl-dev (and, if present,
# libzstd-dev, which configure picks up); Debian: apt-get install autoconf
# automake libtool pkg-config uuid-dev liblz4-dev liblzma-dev zlib1g-dev
# libssl-dev libzstd-dev.
set -euo pipefail

VERSION=${EROFS_UTILS_VERSION:-1.9.3}
src='' git='' prefix=''
while [ $# -gt 0 ]; do
	case $1 in
	--src) src=${2:?--src needs DIR}; shift ;;
	--git) git=${2:?--git needs GITDIR}; shift ;;
	--prefix) prefix=${2:?--prefix needs DIR}; shift ;;
	-h | --help) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "build-erofs-utils.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
prefix=${prefix:-/var/tmp/erofs-utils-$VERSION}

log() { printf '[build-erofs-utils %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
for t in autoreconf automake libtoolize pkg-config make cc; do
	command -v "$t" >/dev/null || die "$t not found (see the header of $0 for the packages)"
done

work=$(mktemp -d "${TMPDIR:-/var/tmp}/erofs-utils-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/erofs-utils-$VERSION
if [ -n "$src" ]; then
	[ -f "$src/configure.ac" ] || die "$src: not an erofs-utils source tree (no configure.ac)"
	cp -a "$src" "$tree"
elif [ -n "$git" ]; then
	mkdir "$tree"
	git --git-dir="$git" archive "v$VERSION" | tar -x -C "$tree" ||
		die "$git: cannot export tag v$VERSION"
else
	url=https://git.kernel.org/pub/scm/linux/kernel/git/xiang/erofs-utils.git/snapshot/erofs-utils-$VERSION.tar.gz
	log "downloading $url"
	curl -fsSL "$url" | tar -xz -C "$work" || die "download of $url failed"
fi
got=$(head -n1 "$tree/VERSION")
[ "$got" = "$VERSION" ] || die "source tree says version '$got', expected $VERSION"

cd "$tree"
log "autogen"
./autogen.sh >"$work/autogen.log" 2>&1 || { tail -n 20 "$work/autogen.log" >&2; die "autogen.sh failed"; }
log "configure --prefix=$prefix --enable-multithreading"
# lz4/lzma/zlib as a distro build has them; OpenSSL so that sha256 (chunk
# dedup) is OpenSSL's, as lading's is, not erofs-utils' portable C one;
# fuse is not needed for mkfs.erofs.
./configure --prefix="$prefix" --enable-multithreading --enable-lz4 --enable-lzma \
	--with-zlib --with-openssl --disable-fuse >"$work/configure.log" 2>&1 ||
	{ tail -n 30 "$work/configure.log" >&2; die "configure failed"; }
grep -q '^#define EROFS_MT_ENABLED 1' config.h || die "configure did not enable multithreading"
grep -q '^#define HAVE_OPENSSL_EVP_H 1' config.h || die "configure did not find OpenSSL's evp.h"
log "make"
make ${MAKEFLAGS:--j"$(nproc)"} >"$work/make.log" 2>&1 || { tail -n 30 "$work/make.log" >&2; die "make failed"; }
make install >"$work/install.log" 2>&1 || { tail -n 30 "$work/install.log" >&2; die "make install failed"; }
"$prefix/bin/mkfs.erofs" -V 2>&1 | head -n1 >&2
log "installed $prefix/bin/mkfs.erofs"
