#!/usr/bin/env bash
# Builds the seed corpus for tar_fuzz: small tars from the writers at hand
# (GNU tar in each format and with --sparse, bsdtar, Python's tarfile), cut
# at the places where an archive may or may not end, and compressed with
# gzip, zstd, xz and bzip2 when those are installed.  Each seed is a
# control byte (see tar_fuzz.c) then the stream.  No binaries are committed.
#
#   make-tar-seeds.sh OUTDIR
set -euo pipefail
umask 022
out=${1:?usage: make-tar-seeds.sh OUTDIR}
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/lading-tar-seeds.XXXXXX")
trap 'rm -rf "$work"' EXIT

t=$work/tree
mkdir -p "$t/d/sub" "$t/.wh..wh..opq-dir"
printf 'hello\n' >"$t/d/hello"
head -c 1000 /dev/urandom >"$t/d/sub/r1000"
head -c 3000 /dev/urandom >"$t/r3000"
ln "$t/r3000" "$t/hardlink"
ln -s d/hello "$t/link"
: >"$t/.wh.dir"
: >"$t/d/.wh..wh..opq"
truncate -s 40000 "$t/sparse"
printf x | dd of="$t/sparse" bs=1 seek=20000 conv=notrunc status=none
mkfifo "$t/fifo"
command -v setfattr >/dev/null && setfattr -n user.k -v v "$t/d/hello" 2>/dev/null || true
mkdir -p "$t/$(printf '%0120d' 0)"

n=0
emit() {	# emit NAME FILE: the seed with each control byte worth varying
	local c
	for c in 00 01 12 25 47; do
		{ printf "\\x$c"; cat "$2"; } >"$out/$1-$c"
		n=$((n + 1))
	done
}
tars=()
for f in gnu posix ustar v7; do
	if tar --format=$f -cf "$work/$f.tar" -C "$t" . 2>/dev/null; then tars+=("$f"); fi
done
tar --format=gnu --sparse -cf "$work/sparse-gnu.tar" -C "$t" . && tars+=(sparse-gnu)
tar --format=posix --sparse --sparse-version=1.0 -cf "$work/sparse-pax.tar" -C "$t" . &&
	tars+=(sparse-pax)
if command -v bsdtar >/dev/null; then
	bsdtar -cf "$work/bsdtar.tar" -C "$t" . && tars+=(bsdtar)
fi
python3 - "$t" "$work/python.tar" <<'PY' && tars+=(python)
import sys, tarfile
with tarfile.open(sys.argv[2], "w", format=tarfile.PAX_FORMAT) as f:
    f.add(sys.argv[1], arcname=".")
PY
for f in "${tars[@]}"; do emit "$f" "$work/$f.tar"; done
# where an archive ends: unpadded, unterminated, one zero block, cut short
python3 - "$work/posix.tar" "$work" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
end = len(d.rstrip(b"\0"))
padded = -(-end // 512) * 512
for name, data in (("unpadded", d[:end]), ("padded", d[:padded]),
                   ("one-zero", d[:padded + 512]), ("cut", d[:end // 2])):
    open(sys.argv[2] + "/" + name + ".tar", "wb").write(data)
PY
for f in unpadded padded one-zero cut; do emit "$f" "$work/$f.tar"; done
# compressed: one of each, and two gzip members
gzip -nc "$work/posix.tar" >"$work/gz" && emit gzip "$work/gz"
{ gzip -nc "$work/unpadded.tar"; gzip -nc </dev/null; } >"$work/gz2" && emit gzip-members "$work/gz2"
if command -v zstd >/dev/null; then zstd -qc "$work/unpadded.tar" >"$work/zst" && emit zstd "$work/zst"; fi
if command -v xz >/dev/null; then xz -c "$work/gnu.tar" >"$work/xz" && emit xz "$work/xz"; fi
if command -v bzip2 >/dev/null; then bzip2 -c "$work/ustar.tar" >"$work/bz2" && emit bzip2 "$work/bz2"; fi
echo "make-tar-seeds: $n seeds in $out" >&2
