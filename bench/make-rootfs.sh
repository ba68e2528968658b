#!/bin/bash
# Build the benchmark input for bench/run.sh, once, into a cache directory.
#
#   CACHE/rootfs/          debootstrap --variant=minbase bookworm, plus the
#                          contents of a few large .debs under rootfs/opt/PKG/
#   CACHE/rootfs.tar       GNU tar of rootfs/ (--numeric-owner --xattrs)
#   CACHE/rootfs.tar.gz    the same, gzip -6
#   CACHE/bigfile/big.bin  one file of random bytes (1 GiB), and
#   CACHE/bigfile.tar      a tar of it: checks that peak RSS does not grow
#                          with file size
#
# CACHE defaults to /var/tmp/lading-bench; override with LADING_BENCH_CACHE
# (or LADING_BENCH_DIR, the name bench/seed.sh uses).
# Other overrides:
#   LADING_BENCH_MIRROR    Debian mirror URL (default: the bookworm URI apt uses,
#                          read from /etc/apt/sources.list*)
#   LADING_BENCH_SUITE     default bookworm
#   LADING_BENCH_PACKAGES  space-separated .deb names extracted into rootfs/opt
#   LADING_BENCH_BIGFILE_MIB  size of bigfile/big.bin in MiB (default 1024)
#
# Idempotent: every step is skipped when its output already exists.  Each
# output is built under a *.tmp name and renamed into place only on success,
# so an interrupted run is simply resumed by running the script again.
# Must run as root (debootstrap creates device nodes and chowns files).
set -euo pipefail

CACHE=${LADING_BENCH_CACHE:-${LADING_BENCH_DIR:-/var/tmp/lading-bench}}
SUITE=${LADING_BENCH_SUITE:-bookworm}
# ~1.5 GiB installed on top of minbase (~0.2 GiB): a mix of very large files
# (libLLVM, cc1plus, libxul, go toolchain binaries, rust rlibs) and many small
# ones (golang-1.19-src, JDK modules).
BIG_MIB=${LADING_BENCH_BIGFILE_MIB:-1024}
PACKAGES=${LADING_BENCH_PACKAGES:-"gcc-12 cpp-12 g++-12 libllvm14 libllvm15 libclang-cpp14 golang-1.19-go golang-1.19-src openjdk-17-jre-headless firefox-esr libstd-rust-dev libicu72"}

DIR=$CACHE/rootfs
DEBS=$CACHE/debs
STAMPS=$CACHE/stamps

log() { printf '[make-rootfs %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap)"

# The Debian mirror apt is configured with: first URI serving $SUITE
# (not -security/-updates), from deb822 *.sources or one-line *.list files.
find_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v suite="$SUITE" '
			function flush() {
				if (uri != "" && types ~ /(^| )deb( |$)/) {
					n = split(suites, s, " ")
					for (i = 1; i <= n; i++) if (s[i] == suite) { print uri; found = 1; exit }
				}
				uri = ""; suites = ""; types = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^#/ { next }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { $1 = ""; suites = $0 }
			/^Types:/ { $1 = ""; types = $0 }
			END { if (!found) flush() }
		' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v suite="$SUITE" '
			$1 == "deb" {
				i = 2
				if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
				if ($(i + 1) == suite) print $i
			}
		' "$f"
	done
}

MIRROR=${LADING_BENCH_MIRROR:-$(find_mirror | head -n1)}
[ -n "$MIRROR" ] || die "no Debian mirror for '$SUITE' in /etc/apt/sources.list*; set LADING_BENCH_MIRROR"

need_pkg() { # need_pkg COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 && return 0
	log "installing $2"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2
}

mkdir -p "$CACHE" "$DEBS" "$STAMPS"

# 1. minbase root filesystem
if [ -e "$STAMPS/debootstrap" ]; then
	log "rootfs: debootstrap already done"
else
	need_pkg debootstrap debootstrap
	log "rootfs: debootstrap --variant=minbase $SUITE from $MIRROR"
	rm -rf "$DIR.tmp" "$DIR"
	debootstrap --variant=minbase "$SUITE" "$DIR.tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
		die "debootstrap failed, see $CACHE/debootstrap.log"
	mv "$DIR.tmp" "$DIR"
	touch "$STAMPS/debootstrap"
fi

# 2. large packages' contents under rootfs/opt/PKG
changed=0
for pkg in $PACKAGES; do
	if [ -e "$STAMPS/opt-$pkg" ]; then
		continue
	fi
	deb=$(ls "$DEBS/${pkg}_"*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		log "downloading $pkg"
		(cd "$DEBS" && apt-get download -q "$pkg" >&2) || die "apt-get download $pkg failed"
		deb=$(ls "$DEBS/${pkg}_"*.deb | head -n1)
	fi
	log "extracting $(basename "$deb") into rootfs/opt/$pkg"
	rm -rf "$DIR/opt/$pkg.tmp" "$DIR/opt/$pkg"
	mkdir -p "$DIR/opt/$pkg.tmp"
	dpkg-deb -x "$deb" "$DIR/opt/$pkg.tmp"
	mv "$DIR/opt/$pkg.tmp" "$DIR/opt/$pkg"
	touch "$STAMPS/opt-$pkg"
	changed=1
done
# the tarballs must match the tree: rebuild them if the tree grew
if [ "$changed" = 1 ]; then
	rm -f "$DIR.tar" "$DIR.tar.gz"
fi

# 3. tarballs.  GNU tar: --xattrs makes it emit pax extended headers
# (SCHILY.xattr.*, plus atime/ctime records) around ustar entries.
if [ -e "$DIR.tar" ]; then
	log "rootfs.tar exists"
else
	log "writing rootfs.tar"
	rm -f "$DIR.tar.tmp" "$DIR.tar.gz"
	tar --create --file="$DIR.tar.tmp" --directory="$DIR" \
		--numeric-owner --xattrs --xattrs-include='*' --sort=name .
	mv "$DIR.tar.tmp" "$DIR.tar"
fi
if [ -e "$DIR.tar.gz" ]; then
	log "rootfs.tar.gz exists"
else
	log "writing rootfs.tar.gz"
	gzip -6 -c "$DIR.tar" >"$DIR.tar.gz.tmp"
	mv "$DIR.tar.gz.tmp" "$DIR.tar.gz"
fi

# 4. one big incompressible file, as a directory and as a tar
BIG=$CACHE/bigfile
if [ -e "$BIG/big.bin" ]; then
	log "bigfile/big.bin exists"
else
	log "writing bigfile/big.bin ($BIG_MIB MiB of random bytes)"
	rm -rf "$BIG" "$BIG.tar"
	mkdir -p "$BIG"
	head -c "$((BIG_MIB * 1048576))" /dev/urandom >"$BIG/big.bin.tmp"
	mv "$BIG/big.bin.tmp" "$BIG/big.bin"
fi
if [ ! -e "$BIG.tar" ]; then
	log "writing bigfile.tar"
	tar --create --file="$BIG.tar.tmp" --directory="$BIG" --numeric-owner .
	mv "$BIG.tar.tmp" "$BIG.tar"
fi

files=$(find "$DIR" -xdev | wc -l)
du_b=$(du -sb "$DIR" | cut -f1)
log "done: $DIR ($files entries, $((du_b / 1048576)) MiB apparent)"
log "      $DIR.tar $(($(stat -c %s "$DIR.tar") / 1048576)) MiB, $DIR.tar.gz $(($(stat -c %s "$DIR.tar.gz") / 1048576)) MiB"
