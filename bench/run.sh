#!/bin/bash
# Benchmark lading-mkimage against erofs-utils mkfs.erofs and raw I/O / hash
# limits on the input built by bench/make-rootfs.sh.  See bench/README.md.
#
# usage: bench/run.sh [--json] [--repeat N] [--keep] [--cases LIST]
#
#   --json       print the results as one JSON object instead of a table
#   --repeat N   run every case N times; report the fastest run (default 3)
#   --keep       keep the temp output dir (its path is printed on stderr)
#   --cases LIST run only these cases (comma-separated names, as in the
#                table); ratios whose cases did not run are n/a
#
# Environment:
#   LADING_BENCH_CACHE  input cache dir (default $LADING_BENCH_DIR, else
#                       /var/tmp/lading-bench)
#   LADING_MKIMAGE      lading-mkimage binary (default build/mkimage/lading-mkimage)
#   MKFS_EROFS          mkfs.erofs binary (default: from PATH); erofs-utils
#                       1.9.3 built by bench/build-erofs-utils.sh is at
#                       /var/tmp/erofs-utils-1.9.3/bin/mkfs.erofs
#   MKFS_WORKERS        mkfs.erofs --workers (default: the CPU count, as
#                       mkfs.erofs 1.8+ does; ignored by older versions)
#   TMPDIR              where the temp output dir is created (default /var/tmp)
#
# Exits non-zero if any measured command fails (the other cases still run).
# Purely informational: nothing here asserts on timings.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

CACHE=${LADING_BENCH_CACHE:-${LADING_BENCH_DIR:-/var/tmp/lading-bench}}
MKIMAGE=${LADING_MKIMAGE:-$repo/build/mkimage/lading-mkimage}
MKFS=${MKFS_EROFS:-$(command -v mkfs.erofs || echo /usr/sbin/mkfs.erofs)}
DIR=$CACHE/rootfs
TAR=$DIR.tar
TGZ=$DIR.tar.gz
BIG=$CACHE/bigfile
TIME=/usr/bin/time

json=0 repeat=3 keep=0 only=
while [ $# -gt 0 ]; do
	case $1 in
	--json) json=1 ;;
	--repeat) repeat=${2:?--repeat needs N}; shift ;;
	--repeat=*) repeat=${1#*=} ;;
	--keep) keep=1 ;;
	--cases) only=${2:?--cases needs LIST}; shift ;;
	--cases=*) only=${1#*=} ;;
	-h | --help) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
case $repeat in '' | *[!0-9]* | 0) echo "run.sh: --repeat wants a positive integer" >&2; exit 2 ;; esac

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 2; }

for f in "$DIR" "$TAR" "$TGZ" "$BIG/big.bin" "$BIG.tar"; do
	[ -e "$f" ] || die "missing input $f; run bench/make-rootfs.sh first"
done
[ -x "$MKIMAGE" ] || die "lading-mkimage not found at $MKIMAGE (build it, or set LADING_MKIMAGE)"
[ -x "$MKFS" ] || die "mkfs.erofs not found (apt-get install erofs-utils, or set MKFS_EROFS)"
if [ ! -x "$TIME" ]; then
	[ "$(id -u)" = 0 ] || die "$TIME missing; apt-get install time"
	log "installing GNU time"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >&2
fi
command -v openssl >/dev/null || die "openssl not found"

OUT=$(mktemp -d "${TMPDIR:-/var/tmp}/lading-bench-run.XXXXXX")
if [ "$keep" = 1 ]; then
	log "outputs kept in $OUT"
else
	trap 'rm -rf "$OUT"' EXIT
fi
mkdir "$OUT/logs"
# Run a private copy: the build tree may be rebuilt while we measure.
cp "$MKIMAGE" "$OUT/lading-mkimage"
lading_sha=$(sha256sum "$OUT/lading-mkimage" | cut -c1-12)
LADING=$OUT/lading-mkimage

# mkfs.erofs 1.5 has no --version/-V; it prints "mkfs.erofs 1.5" when it
# builds an image, so build a tiny one.
mkdir "$OUT/empty"
mkfs_version=$("$MKFS" "$OUT/version.img" "$OUT/empty" 2>&1 |
	sed -n 's/^mkfs\.erofs \([0-9][^ ]*\).*/\1/p' | head -n1 || true)
rm -rf "$OUT/empty" "$OUT/version.img"
lading_version=
# (probe from inside $OUT, in case --version is not understood and taken as a path)
if v=$(cd "$OUT" && timeout 10 "$LADING" --version 2>/dev/null </dev/null); then lading_version=$(printf '%s\n' "$v" | head -n1 | sed 's/^lading-mkimage //'); fi

# Other load on the machine skews wall times; record it (not enforced).
ncpu=$(nproc)
load_start=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load_start" 'BEGIN {exit !(l >= 0.5)}'; then
	log "warning: load average is $load_start on $ncpu CPU(s) before starting; wall times will be inflated"
fi

# ---- input statistics (the inputs are re-read before every run, see measure)
find "$DIR" -xdev -type f -printf '%s\n' >"$OUT/sizes"
big_bytes=$(stat -c %s "$BIG/big.bin")
in_entries=$(find "$DIR" -xdev | wc -l)
in_files=$(wc -l <"$OUT/sizes")
in_bytes=$(awk '{s += $1} END {printf "%d", s}' "$OUT/sizes")
in_largest=$(sort -n "$OUT/sizes" | tail -n1)
tar_bytes=$(stat -c %s "$TAR")
tgz_bytes=$(stat -c %s "$TGZ")

# ---- measurement
# per case: wall, rss (KiB), rc, boot (bytes), blob (bytes), nblobs, note
declare -A WALL RSS CPU RC BOOT BLOB NBLOBS NOTE RUNS
CASES=()
failed=0

# warm PATH...: read files / directory trees once, so they are in page cache
warm() {
	local p
	for p in "$@"; do
		if [ -d "$p" ]; then
			find "$p" -xdev -type f -print0 | xargs -0 -r cat >/dev/null
		else
			cat "$p" >/dev/null
		fi
	done
}

# measure NAME STDOUT INPUT CMD...: run CMD under GNU time, $repeat times;
# keeps the fastest run's wall time and that run's peak RSS.  Before each run
# (untimed): the previous run's outputs are removed, dirty pages flushed
# (sync) and INPUT re-read, since the page cache may not hold all inputs and
# outputs at once (see README).
measure() {
	local name=$1 stdout=$2 input=$3 i tf line w m u k c rc
	shift 3
	if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then return 0; fi
	CASES+=("$name")
	for ((i = 1; i <= repeat; i++)); do
		rm -rf "${OUT:?}/$name"
		mkdir -p "$OUT/$name/blobs"
		sync
		warm "$input"
		tf=$OUT/logs/$name.time
		log "run $name ($i/$repeat): $*"
		rc=0
		# shellcheck disable=SC2094
		"$TIME" -f '%e %M %U %S' -o "$tf" "$@" >"${stdout:-$OUT/logs/$name.out}" 2>"$OUT/logs/$name.err" || rc=$?
		line=$(tail -n1 "$tf")
		read -r w m u k <<<"$line"
		c=$(awk -v u="$u" -v k="$k" 'BEGIN {printf "%.2f", u + k}')
		log "  $name: exit $rc, ${w} s wall, ${c} s cpu, ${m} KiB"
		RUNS[$name]="${RUNS[$name]:+${RUNS[$name]}, }{\"wall_s\": $w, \"cpu_s\": $c, \"peak_rss_kib\": $m, \"exit\": $rc}"
		if [ "$rc" != 0 ]; then
			log "FAILED $name (exit $rc); stderr:"
			tail -n 20 "$OUT/logs/$name.err" >&2
			WALL[$name]=$w RSS[$name]=$m CPU[$name]=$c RC[$name]=$rc
			failed=1
			return 0
		fi
		if [ -z "${WALL[$name]:-}" ] || awk -v a="$w" -v b="${WALL[$name]}" 'BEGIN {exit !(a < b)}'; then
			WALL[$name]=$w RSS[$name]=$m CPU[$name]=$c
		fi
		RC[$name]=0
		# sizes of what the run wrote (identical across repeats); then empty
		# the blobs (keeping their names) so they stop occupying page cache
		record_sizes "$name"
		if [ "$keep" = 0 ]; then find "$OUT/$name/blobs" -type f -exec truncate -s 0 {} +; fi
	done
}

record_sizes() {
	local name=$1 d=$OUT/$1 n=0 total=0 f s
	[ -e "$d/boot" ] && BOOT[$name]=$(stat -c %s "$d/boot")
	for f in "$d"/blobs/*; do
		[ -f "$f" ] || continue
		s=$(stat -c %s "$f")
		n=$((n + 1)) total=$((total + s))
		case ${f##*/} in
		erofs.blob) ;;
		*) [[ ${f##*/} =~ ^[0-9a-f]{64}$ ]] || NOTE[$name]="blob name '${f##*/}' is not a sha256 hex digest" ;;
		esac
	done
	if [ -e "$d/boot" ] || [ "$n" -gt 0 ]; then
		BLOB[$name]=$total NBLOBS[$name]=$n
	fi
	if [ "$n" -gt 1 ]; then NOTE[$name]="$n blobs written, expected 1"; fi
	if [ -e "$d/boot" ] && [ "$n" = 0 ]; then NOTE[$name]="no blob written"; fi
}

# Both tools get the same input and the same settings: 1 MiB chunks, no
# compression, every chunk deduplicated by sha256, the data in one separate
# blob ("--blobdev=X" is a plain file, created if missing).  mkfs.erofs 1.5
# is "mkfs.erofs [options] FILE DIRECTORY" and has no --tar=f for a chunked
# image nor --workers; 1.8+ take both (--workers only matters for compression
# there, but is given so a multithreaded build uses all CPUs).  For a tar,
# mkfs.erofs --sort=none writes the data in archive order as lading does;
# its default (--sort=path) first spools every file's data to a temporary
# file, which took it 1.3-2x longer here.
mkfs_mt=()
case $mkfs_version in
1.[0-7] | 1.[0-7].*) ;;
*) mkfs_mt=(--workers="${MKFS_WORKERS:-$ncpu}") ;;
esac
mkfs_tar=1
# (--sort=none: 1.8.2+)
case $mkfs_version in 1.[0-7] | 1.[0-7].* | 1.8 | 1.8.[01]) mkfs_tar=0 ;; esac
measure mkfs.erofs "" "$DIR" \
	"$MKFS" --quiet "${mkfs_mt[@]}" --chunksize=1048576 --blobdev="$OUT/mkfs.erofs/blobs/erofs.blob" \
	"$OUT/mkfs.erofs/boot" "$DIR"
measure lading-dir "" "$DIR" "$LADING" -b "$OUT/lading-dir/blobs" -C 1M "$OUT/lading-dir/boot" "$DIR"
if [ "$mkfs_tar" = 1 ]; then
	measure mkfs.erofs-tar "" "$TAR" \
		"$MKFS" --quiet "${mkfs_mt[@]}" --tar=f --sort=none --chunksize=1048576 \
		--blobdev="$OUT/mkfs.erofs-tar/blobs/erofs.blob" "$OUT/mkfs.erofs-tar/boot" "$TAR"
fi
measure lading-tar "" "$TAR" "$LADING" -b "$OUT/lading-tar/blobs" -C 1M "$OUT/lading-tar/boot" "$TAR"
measure lading-tgz "" "$TGZ" "$LADING" -b "$OUT/lading-tgz/blobs" "$OUT/lading-tgz/boot" "$TGZ"
measure lading-1file-dir "" "$BIG" "$LADING" -b "$OUT/lading-1file-dir/blobs" -C 1M "$OUT/lading-1file-dir/boot" "$BIG"
measure lading-1file-tar "" "$BIG.tar" "$LADING" -b "$OUT/lading-1file-tar/blobs" "$OUT/lading-1file-tar/boot" "$BIG.tar"
measure sha256-tar "" "$TAR" openssl dgst -sha256 "$TAR"
measure gunzip-tgz /dev/null "$TGZ" gzip -dc "$TGZ"
measure cat-tar /dev/null "$TAR" cat "$TAR"

# The three lading runs see the same tree with the same (1 MiB) chunk size, so
# they should produce the same blob and, barring source-specific metadata,
# the same bootstrap.  Differences are reported as notes, not failures.
blob_of() { find "$OUT/$1/blobs" -maxdepth 1 -type f -printf '%f\n' 2>/dev/null | head -n1; }
for c in lading-tar lading-tgz; do
	[ "${RC[lading-dir]:-1}" = 0 ] && [ "${RC[$c]:-1}" = 0 ] || continue
	d1=$(blob_of lading-dir) d2=$(blob_of "$c")
	if [ "$d1" != "$d2" ]; then
		NOTE[$c]="${NOTE[$c]:+${NOTE[$c]}; }blob ${d2:0:12}... differs from lading-dir's ${d1:0:12}..."
	elif ! cmp -s "$OUT/lading-dir/boot" "$OUT/$c/boot"; then
		NOTE[$c]="${NOTE[$c]:+${NOTE[$c]}; }same blob as lading-dir, bootstrap differs"
	else
		NOTE[$c]="${NOTE[$c]:+${NOTE[$c]}; }blob and bootstrap identical to lading-dir's"
	fi
done
# anything a successful lading run said on stderr (warnings)
for c in lading-dir lading-tar lading-tgz; do
	[ "${RC[$c]:-1}" = 0 ] && [ -s "$OUT/logs/$c.err" ] || continue
	n=$(sort -u "$OUT/logs/$c.err" | wc -l)
	NOTE[$c]="${NOTE[$c]:+${NOTE[$c]}; }stderr ($n distinct line(s)): $(head -n1 "$OUT/logs/$c.err")"
done

load_end=$(cut -d' ' -f1 /proc/loadavg)

# ---- report
ratio() { # ratio A B -> A/B with 2 decimals, or "null" if either is missing/0
	awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "null"; else printf "%.2f", a / b }'
}
mib2() { awk -v b="${1:-}" 'BEGIN { if (b == "") print "-"; else printf "%.2f", b / 1048576 }'; }
mib() { awk -v k="${1:-}" -v d="${2:-1024}" 'BEGIN { if (k == "") print "-"; else printf "%.1f", k / d }'; }
ok_or_fail() { [ "${RC[$1]:-1}" = 0 ] && echo "${WALL[$1]}" || true; }
rss_ok() { [ "${RC[$1]:-1}" = 0 ] && echo "${RSS[$1]}" || true; }

r_dir_mkfs=$(ratio "$(ok_or_fail lading-dir)" "$(ok_or_fail mkfs.erofs)")
r_tar_mkfs=$(ratio "$(ok_or_fail lading-tar)" "$(ok_or_fail mkfs.erofs-tar)")
r_tar_sha=$(ratio "$(ok_or_fail lading-tar)" "$(ok_or_fail sha256-tar)")
r_tgz_gz=$(ratio "$(ok_or_fail lading-tgz)" "$(ok_or_fail gunzip-tgz)")
r_tar_cat=$(ratio "$(ok_or_fail lading-tar)" "$(ok_or_fail cat-tar)")
m_dir_mkfs=$(ratio "$(rss_ok lading-dir)" "$(rss_ok mkfs.erofs)")
m_tar_mkfs=$(ratio "$(rss_ok lading-tar)" "$(rss_ok mkfs.erofs-tar)")
m_tar_dir=$(ratio "$(rss_ok lading-tar)" "$(rss_ok lading-dir)")
m_tgz_tar=$(ratio "$(rss_ok lading-tgz)" "$(rss_ok lading-tar)")
lading_max_rss=$(for c in lading-dir lading-tar lading-tgz; do rss_ok $c; done | sort -n | tail -n1)
big_max_rss=$(for c in lading-1file-dir lading-1file-tar; do rss_ok $c; done | sort -n | tail -n1)
# peak RSS in KiB / largest input file in KiB
m_lading_largest=$(ratio "$lading_max_rss" "$(awk -v b="$in_largest" 'BEGIN {printf "%.3f", b / 1024}')")
m_big_size=$(ratio "$big_max_rss" "$(awk -v b="$big_bytes" 'BEGIN {printf "%.3f", b / 1024}')")
m_big_rootfs=$(ratio "$big_max_rss" "$lading_max_rss")

verdict() { # verdict RATIO LIMIT
	awk -v r="$1" -v l="$2" 'BEGIN { if (r == "null") print "n/a"; else if (r + 0 <= l + 0) print "met"; else print "missed" }'
}

if [ "$json" = 1 ]; then
	jnum() { if [ -z "${1:-}" ]; then printf null; else printf '%s' "$1"; fi; }
	jstr() { if [ -z "${1:-}" ]; then printf null; else printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; fi; }
	printf '{\n'
	printf '  "input": {"dir": %s, "entries": %s, "regular_files": %s, "file_bytes": %s, "largest_file_bytes": %s, "tar_bytes": %s, "tar_gz_bytes": %s, "bigfile_bytes": %s},\n' \
		"$(jstr "$DIR")" "$in_entries" "$in_files" "$in_bytes" "$in_largest" "$tar_bytes" "$tgz_bytes" "$big_bytes"
	printf '  "tools": {"mkfs_erofs": %s, "mkfs_erofs_version": %s, "lading_mkimage": %s, "lading_mkimage_version": %s, "lading_mkimage_sha256_prefix": %s},\n' \
		"$(jstr "$MKFS")" "$(jstr "$mkfs_version")" "$(jstr "$MKIMAGE")" "$(jstr "$lading_version")" "$(jstr "$lading_sha")"
	printf '  "host": {"cpus": %s, "loadavg_1min_start": %s, "loadavg_1min_end": %s},\n' "$ncpu" "$load_start" "$load_end"
	printf '  "repeat": %s,\n  "cases": [\n' "$repeat"
	n=${#CASES[@]} i=0
	for c in "${CASES[@]}"; do
		i=$((i + 1))
		printf '    {"case": "%s", "exit": %s, "wall_s": %s, "cpu_s": %s, "peak_rss_kib": %s, "bootstrap_bytes": %s, "blob_bytes": %s, "blobs": %s, "note": %s, "runs": [%s]}%s\n' \
			"$c" "$(jnum "${RC[$c]:-}")" "$(jnum "${WALL[$c]:-}")" "$(jnum "${CPU[$c]:-}")" "$(jnum "${RSS[$c]:-}")" \
			"$(jnum "${BOOT[$c]:-}")" "$(jnum "${BLOB[$c]:-}")" "$(jnum "${NBLOBS[$c]:-}")" \
			"$(jstr "${NOTE[$c]:-}")" "${RUNS[$c]:-}" "$([ $i -lt $n ] && echo , || true)"
	done
	printf '  ],\n  "ratios": {\n'
	printf '    "wall_lading_dir_over_mkfs_erofs": %s,\n' "$r_dir_mkfs"
	printf '    "wall_lading_tar_over_mkfs_erofs_tar": %s,\n' "$r_tar_mkfs"
	printf '    "wall_lading_tar_over_sha256": %s,\n' "$r_tar_sha"
	printf '    "wall_lading_tgz_over_gunzip": %s,\n' "$r_tgz_gz"
	printf '    "wall_lading_tar_over_cat": %s,\n' "$r_tar_cat"
	printf '    "rss_lading_dir_over_mkfs_erofs": %s,\n' "$m_dir_mkfs"
	printf '    "rss_lading_tar_over_mkfs_erofs_tar": %s,\n' "$m_tar_mkfs"
	printf '    "rss_lading_tar_over_lading_dir": %s,\n' "$m_tar_dir"
	printf '    "rss_lading_tgz_over_lading_tar": %s,\n' "$m_tgz_tar"
	printf '    "rss_lading_max_over_largest_file": %s,\n' "$m_lading_largest"
	printf '    "rss_lading_1file_over_1file_size": %s,\n' "$m_big_size"
	printf '    "rss_lading_1file_over_lading_rootfs": %s\n' "$m_big_rootfs"
	printf '  },\n  "targets": {\n'
	printf '    "lading_dir_at_most_half_mkfs_erofs": "%s",\n' "$(verdict "$r_dir_mkfs" 0.5)"
	printf '    "lading_tar_at_most_half_mkfs_erofs_tar": "%s",\n' "$(verdict "$r_tar_mkfs" 0.5)"
	printf '    "lading_tar_within_1_5x_sha256": "%s"\n' "$(verdict "$r_tar_sha" 1.5)"
	printf '  },\n  "failed": %s\n}\n' "$([ $failed = 1 ] && echo true || echo false)"
else
	printf 'input: %s: %d entries, %d regular files, %.1f MiB file data, largest file %.1f MiB\n' \
		"$DIR" "$in_entries" "$in_files" "$(mib "$in_bytes" 1048576)" "$(mib "$in_largest" 1048576)"
	printf '       rootfs.tar %.1f MiB, rootfs.tar.gz %.1f MiB; bigfile/big.bin (1file) %.1f MiB\n' \
		"$(mib "$tar_bytes" 1048576)" "$(mib "$tgz_bytes" 1048576)" "$(mib "$big_bytes" 1048576)"
	printf 'tools: mkfs.erofs %s (%s); lading-mkimage %s (%s, sha256 %s...)\n' \
		"${mkfs_version:-?}" "$MKFS" "${lading_version:-?}" "$MKIMAGE" "$lading_sha"
	printf 'host:  %d CPU(s), 1-min load average %s at start, %s at end (a benchmark alone adds ~1)\n' "$ncpu" "$load_start" "$load_end"
	if [ "$repeat" -gt 1 ]; then printf 'fastest of %d runs per case\n' "$repeat"; fi
	printf '\n%-16s %5s %9s %8s %13s %15s %11s\n' case exit "wall s" "cpu s" "peak RSS MiB" "bootstrap MiB" "blob MiB"
	for c in "${CASES[@]}"; do
		printf '%-16s %5s %9s %8s %13s %15s %11s\n' "$c" "${RC[$c]:-?}" "${WALL[$c]:--}" "${CPU[$c]:--}" "$(mib "${RSS[$c]:-}")" \
			"$(mib2 "${BOOT[$c]:-}")" "$(mib "${BLOB[$c]:-}" 1048576)"
	done
	for c in "${CASES[@]}"; do
		if [ -n "${NOTE[$c]:-}" ]; then printf 'note: %s: %s\n' "$c" "${NOTE[$c]}"; fi
	done
	na() { if [ "$1" = null ]; then echo n/a; else echo "$1"; fi; }
	printf '\nratios:\n'
	pr() { printf '  %-46s %6s%s\n' "$1" "$(na "$2")" "${3:+   ($3)}"; }
	pr "wall  lading-dir / mkfs.erofs" "$r_dir_mkfs" "target <= 0.50: $(verdict "$r_dir_mkfs" 0.5)"
	pr "wall  lading-tar / mkfs.erofs-tar" "$r_tar_mkfs" "target <= 0.50: $(verdict "$r_tar_mkfs" 0.5)"
	pr "wall  lading-tar / sha256-tar" "$r_tar_sha" "target <= 1.50: $(verdict "$r_tar_sha" 1.5)"
	pr "wall  lading-tgz / gunzip-tgz" "$r_tgz_gz"
	pr "wall  lading-tar / cat-tar" "$r_tar_cat"
	pr "rss   lading-dir / mkfs.erofs" "$m_dir_mkfs"
	pr "rss   lading-tar / mkfs.erofs-tar" "$m_tar_mkfs"
	pr "rss   lading-tar / lading-dir" "$m_tar_dir"
	pr "rss   lading-tgz / lading-tar" "$m_tgz_tar"
	pr "rss   max(lading rootfs) / largest rootfs file" "$m_lading_largest"
	pr "rss   max(lading-1file) / 1file size" "$m_big_size"
	pr "rss   max(lading-1file) / max(lading rootfs)" "$m_big_rootfs"
	if [ "$failed" = 1 ]; then printf '\nFAILED: at least one command exited non-zero (see above)\n'; fi
fi
exit "$failed"
