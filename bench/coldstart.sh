#!/bin/bash
# SPDX-License-Identifier: MIT
# Cold start of a real image from a docker-registry on 127.0.0.1 (issue 14):
# the same workload run after a full pull, after a streamed
# `curl | igzip -d | tar -x`, and from a lazily mounted lading image (cold on
# demand, cold with the filler's readahead, cold with a published trace,
# warm), at loopback speed and behind a throttling proxy.  See
# bench/README.md ("Cold start").  Not a test: no assertions.
#
# usage: bench/coldstart.sh [--repeat N] [--rates "0 1e9 100e6"]
#        bench/coldstart.sh --inline-sweep   (bootstrap size per --inline-max)
#        LADING_COLD_CASES="ondemand readahead trace" bench/coldstart.sh --rates 0
set -euo pipefail
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
build=${LADING_BUILD:-$here/../build}
CACHE=${LADING_BENCH_CACHE:-${LADING_BENCH_DIR:-/var/tmp/lading-bench}}
# LADING_COLD_INPUT=full: layer 1 is the whole rootfs.tar, uncompressed
# (for --inline-sweep: the pull cases want gzip layers)
INPUT=${LADING_COLD_INPUT:-subset}
IN=$CACHE/coldstart
[ "$INPUT" = full ] && IN=$CACHE/coldstart-full
REPEAT=3
RATES="0 1e9 100e6"
SWEEP=
while [ $# -gt 0 ]; do
	case $1 in
	--repeat) REPEAT=$2; shift 2 ;;
	--rates) RATES=$2; shift 2 ;;
	--inline-sweep) SWEEP=1; shift ;;
	*) echo "usage: $0 [--repeat N] [--rates \"0 1e9 100e6\"] [--inline-sweep]" >&2; exit 2 ;;
	esac
done
CONVERT=$build/convert/lading-convert
FILL=$build/fill/lading-fill
log() { printf '[coldstart %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (mounts, chroot, drop_caches)"
for c in docker-registry skopeo umoci curl igzip zstd python3; do
	command -v $c >/dev/null || die "$c is not installed"
done

# The workload, chrooted into ROOT.
WORKLOAD_PY='import json, email, http.client, ssl, sqlite3'
workload() {
	chroot "$1" /usr/bin/python3 -c "$WORKLOAD_PY" &&
		chroot "$1" /usr/bin/gcc --version >/dev/null
}
now() { date +%s.%N; }
# The node's page cache dropped; the registry's storage (another machine,
# in a real deployment) and every tool's binary and shared libraries (a
# node agent is resident; skopeo, umoci, curl, tar alike) read back in.
TOOLS=
for c in skopeo umoci curl igzip tar python3; do TOOLS="$TOOLS $(command -v $c || true)"; done
drop_caches() {
	local b
	sync
	echo 3 >/proc/sys/vm/drop_caches
	[ -d "${work:-}/reg" ] && find "$work/reg" -type f -exec cat {} + >/dev/null
	for b in "$CONVERT" "$FILL" $TOOLS; do
		cat "$b" $(ldd "$b" 2>/dev/null | awk '$3 ~ /^\// { print $3 }') >/dev/null
	done
}
FILL_OPTS=${LADING_COLD_FILL_OPTS:-}

# ---- the input, built once into $IN ---------------------------------------
#
# Layer 1: the part of bench's rootfs the workload lives in (./dev, ./usr/bin,
# ./usr/lib/python3.11, ./usr/lib/gcc).  Layer 2: what that rootfs lacks to
# run it, from this host (whose /usr it was made from): the shared libraries
# python3.11, its lib-dynload modules and gcc-12 load (ldd), the dynamic
# loader, and the /bin /lib /lib64 symlinks of a merged-/usr system.
build_input() {
	[ -f "$IN/img/index.json" ] && return 0
	[ -f "$CACHE/rootfs.tar" ] || die "no $CACHE/rootfs.tar: run bench/make-rootfs.sh"
	log "building the input in $IN (once)"
	rm -rf "$IN"
	mkdir -p "$IN/t1" "$IN/t2"
	if [ "$INPUT" = full ]; then
		ln -s "$CACHE/rootfs.tar" "$IN/layer1.tar"
	else
		tar -xf "$CACHE/rootfs.tar" -C "$IN/t1" ./dev ./usr/bin ./usr/lib/python3.11 ./usr/lib/gcc
		tar -C "$IN/t1" --sort=name --numeric-owner -cf "$IN/layer1.tar" .
	fi
	python3 - "$IN/t2" <<'PY'
import glob, os, shutil, subprocess, sys
root = sys.argv[1]
bins = ["/usr/bin/python3.11", "/usr/bin/gcc-12"] + glob.glob("/usr/lib/python3.11/lib-dynload/*.so")
libs = {"/lib64/ld-linux-x86-64.so.2"}
for b in bins:
    for l in subprocess.run(["ldd", b], capture_output=True, text=True).stdout.splitlines():
        p = l.split("=>")[-1].strip().split(" ")[0]
        if p.startswith("/"):
            libs.add(p)
for p in sorted(libs):
    name = os.path.basename(p)
    d = "usr/lib64" if "ld-linux" in name else "usr/lib/x86_64-linux-gnu"
    os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copyfile(os.path.realpath(p), os.path.join(root, d, name))
    os.chmod(os.path.join(root, d, name), 0o755)
for l, t in (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"), ("sbin", "usr/bin")):
    os.symlink(t, os.path.join(root, l))
os.makedirs(os.path.join(root, "etc"), exist_ok=True)
os.makedirs(os.path.join(root, "tmp"), exist_ok=True)
PY
	tar -C "$IN/t2" --sort=name --numeric-owner -cf "$IN/layer2.tar" .
	rm -rf "$IN/t1" "$IN/t2"
	if [ "$INPUT" = full ]; then
		ln -s layer1.tar "$IN/layer1.tar.gz"
		ln -s layer2.tar "$IN/layer2.tar.gz"
	else
		gzip -6 -n -c "$IN/layer1.tar" >"$IN/layer1.tar.gz"
		gzip -6 -n -c "$IN/layer2.tar" >"$IN/layer2.tar.gz"
	fi
	python3 - "$IN" "$INPUT" <<'PY'
import hashlib, json, os, shutil, sys
d = sys.argv[1]
lay = os.path.join(d, "img")
os.makedirs(os.path.join(lay, "blobs", "sha256"))
def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()
def put_file(path):
    h = sha(path)
    shutil.copyfile(path, os.path.join(lay, "blobs", "sha256", h))
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar" +
                ("" if sys.argv[2] == "full" else "+gzip"),
            "digest": "sha256:" + h, "size": os.path.getsize(path)}
def put(data):
    h = hashlib.sha256(data).hexdigest()
    open(os.path.join(lay, "blobs", "sha256", h), "wb").write(data)
    return "sha256:" + h, len(data)
layers = [put_file(os.path.join(d, "layer%d.tar.gz" % i)) for i in (1, 2)]
diff = ["sha256:" + sha(os.path.join(d, "layer%d.tar" % i)) for i in (1, 2)]
cfg = {"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
       "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/usr/bin/python3"]},
       "rootfs": {"type": "layers", "diff_ids": diff}}
cd, cs = put(json.dumps(cfg, sort_keys=True).encode())
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
       "layers": layers}
md, ms = put(json.dumps(man, sort_keys=True).encode())
open(os.path.join(lay, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": man["mediaType"], "digest": md,
           "size": ms, "annotations": {"org.opencontainers.image.ref.name": "v1"}}]},
          open(os.path.join(lay, "index.json"), "w"))
PY
	rm -f "$IN/layer1.tar.gz" "$IN/layer2.tar.gz"
	[ "$INPUT" = full ] && rm -f "$IN/layer1.tar"
	return 0
}

work=$(mktemp -d "${TMPDIR:-/var/tmp}/lading-coldstart.XXXXXX")
reg= proxy= filler=
cleanup() {
	set +e
	[ -n "$filler" ] && kill -TERM "$filler" 2>/dev/null && wait "$filler" 2>/dev/null
	for m in "$work"/mnt*; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
	[ -n "$proxy" ] && kill "$proxy" 2>/dev/null
	[ -n "$reg" ] && kill "$reg" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

build_input
[ -x "$CONVERT" ] && [ -x "$FILL" ] || die "build lading first ($build)"

# ---- lading mounts ----------------------------------------------------------

# lading_run REF CACHE [OPTS...]: mount (fresh unless CACHE exists), run the
# workload cold, then warm; sets MOUNT_S (start to mounted), COLD_S (the
# workload), WARM_S, and STATS (the --json report at exit).
lading_run() {
	local ref=$1 cache=$2 t0 t1 t2 t3; shift 2
	local mnt=$work/mnt
	mkdir -p "$mnt"
	STATS=$work/stats.json
	t0=$(now)
	"$FILL" mount --backend fanotify --json --plain-http $FILL_OPTS "$@" "$ref" "$mnt" \
		--cache "$cache" >"$STATS" 2>"$work/fill.err" &
	filler=$!
	while ! grep -q " $mnt " /proc/mounts; do
		kill -0 $filler 2>/dev/null || die "lading-fill: $(cat "$work/fill.err")"
		sleep 0.005
	done
	t1=$(now)
	workload "$mnt" || die "the workload failed on the lading mount"
	t2=$(now)
	workload "$mnt"
	t3=$(now)
	kill -TERM $filler
	wait $filler || die "lading-fill exit $?: $(cat "$work/fill.err")"
	filler=
	MOUNT_S=$(python3 -c "print(round($t1 - $t0, 3))")
	COLD_S=$(python3 -c "print(round($t2 - $t1, 3))")
	WARM_S=$(python3 -c "print(round($t3 - $t2, 3))")
}
sget() { python3 -c "import json;v=json.load(open('$STATS'));print(v$1)"; }

# ---- the inline sweep (item 4 of issue 14) -----------------------------------

if [ -n "$SWEEP" ]; then
	printf '%-7s %12s %12s %12s %8s %8s %8s\n' inline bootstrap zstd-3 zstd-19 \
		chunks fetches inodes
	for t in 0 512 1024 2048; do
		rm -rf "$work/lay" "$work/c"
		"$CONVERT" -q --json --compress zstd --inline-max "$t" oci:"$IN/img:v1" \
			oci:"$work/lay:lazy" >"$work/conv.json"
		boot=$work/lay/blobs/sha256/$(python3 -c "import json;print(json.load(open('$work/conv.json'))['bootstrap_digest'][7:])")
		raw=$(stat -c %s "$boot")
		z3=$(zstd -q -3 -c "$boot" | wc -c)
		z19=$(zstd -q -19 -c "$boot" | wc -c)
		drop_caches
		lading_run "oci:$work/lay:lazy" "$work/c" --readahead 0
		printf '%-7s %12s %12s %12s %8s %8s %8s\n' "$t" "$raw" "$z3" "$z19" \
			"$(sget "['chunks_fetched']")" "$(sget "['fetches']")" \
			"$(python3 -c "import json;print(json.load(open('$work/conv.json'))['inodes'])")"
	done
	exit 0
fi

# ---- registry, images -------------------------------------------------------

start_registry "$work"
R=127.0.0.1:$port
log "pushing the image to $R (cold:1.0 and coldt:1.0, the same image)"
for repo in cold coldt; do
	skopeo copy -q --dest-tls-verify=false "oci:$IN/img:v1" "docker://$R/$repo:1.0"
done
# No SOURCE_DATE_EPOCH: it would clamp the files' mtimes (as mkfs.erofs
# does), and python3 then finds every .pyc older than its source and
# compiles the modules instead of loading them.  The chunk blobs do not
# depend on it: the trace recorded on cold:1.0 names coldt:1.0's blobs.
unset SOURCE_DATE_EPOCH
log "lading-convert --attach"
"$CONVERT" -q --json --plain-http --compress zstd --attach "docker://$R/cold:1.0" >"$work/conv.json"
# a recorded run of cold:1.0, published with coldt:1.0 (the same blobs)
drop_caches
lading_run "docker://$R/cold:1.0" "$work/c-rec" --readahead 0 --record "$work/run.trace"
log "trace: $(($(wc -l <"$work/run.trace") - 1)) chunks; publishing it with coldt:1.0"
"$CONVERT" -q --plain-http --compress zstd \
	--prefetch-list "$work/run.trace" --attach "docker://$R/coldt:1.0" >/dev/null
layers_bytes=$(skopeo inspect --raw --tls-verify=false "docker://$R/cold:1.0" |
	python3 -c "import json,sys;m=json.load(sys.stdin);print(m['config']['size']+sum(l['size'] for l in m['layers']))")
layer_digests=$(skopeo inspect --raw --tls-verify=false "docker://$R/cold:1.0" |
	python3 -c "import json,sys;print(' '.join(l['digest'] for l in json.load(sys.stdin)['layers']))")

# ---- the cases ----------------------------------------------------------------

# each prints "wall_s before_bytes total_bytes [mount_s workload_s]"
case_pull() {
	rm -rf "$work/pull"
	mkdir -p "$work/pull"
	local t0 t1
	t0=$(now)
	skopeo copy -q --src-tls-verify=false "docker://$1/cold:1.0" "oci:$work/pull/img:x"
	umoci unpack --image "$work/pull/img:x" "$work/pull/b" >/dev/null
	workload "$work/pull/b/rootfs"
	t1=$(now)
	echo "$(python3 -c "print(round($t1 - $t0, 3))") $layers_bytes $layers_bytes"
}
# the workload on the tree a pull left (the image on the node's disk),
# the page cache dropped: what "warm" is for an image already pulled
case_unpacked() {
	local t0 t1
	[ -d "$work/pull/b/rootfs" ] || { case_pull "$1" >/dev/null; drop_caches; }
	t0=$(now)
	workload "$work/pull/b/rootfs"
	t1=$(now)
	echo "$(python3 -c "print(round($t1 - $t0, 3))") 0 0"
}
case_stream() {
	rm -rf "$work/stream"
	mkdir -p "$work/stream"
	local t0 t1 d
	t0=$(now)
	for d in $layer_digests; do
		curl -sf "http://$1/v2/cold/blobs/$d" | igzip -d | tar -x -C "$work/stream"
	done
	workload "$work/stream"
	t1=$(now)
	echo "$(python3 -c "print(round($t1 - $t0, 3))") $layers_bytes $layers_bytes"
}
# lading_case EP REPO [OPTS]: bytes before mount are the documents and the
# bootstrap (and trace) the resolution fetched, read from the report
lading_case() {
	local ep=$1 repo=$2; shift 2
	[ -n "${KEEP_CACHE:-}" ] || rm -rf "$work/c"
	lading_run "docker://$ep/$repo:1.0" "$work/c" "$@"
	python3 - "$STATS" "$MOUNT_S" "$COLD_S" "$WARM_S" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
before = s.get("bootstrap_transport_size", s["bootstrap_size"]) + (s.get("trace_size") or 0)
m, c, w = (float(x) for x in sys.argv[2:5])
print(round(m + c, 3), before, before + s["stored_bytes_fetched"], m, c, w, s["fetches"],
      s["chunks_fetched"], s.get("trace_chunks", 0))
PY
}

median() { python3 -c "import statistics,sys;print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

printf '%-9s %-18s %8s %8s %9s %12s %12s %8s %8s\n' rate case wall_s mount_s workload_s \
	before_mount total_bytes fetches trace >"$work/table"
for rate in $RATES; do
	if [ "$rate" = 0 ]; then
		ep=$R label=loopback
	else
		rm -f "$work/proxy.port"
		python3 "$here/throttle_proxy.py" "$port" "$rate" "$work/proxy.port" &
		proxy=$!
		for _ in $(seq 1 50); do [ -s "$work/proxy.port" ] && break; sleep 0.1; done
		ep=127.0.0.1:$(cat "$work/proxy.port")
		label=$(python3 -c "r=float('$rate');print('%gGbit' % (r/1e9) if r >= 1e9 else '%gMbit' % (r/1e6))")
	fi
	for c in ${LADING_COLD_CASES:-pull unpacked stream ondemand readahead trace local}; do
		walls= mounts= works= warms=
		for i in $(seq 1 "$REPEAT"); do
			drop_caches
			case $c in
			pull) out=$(case_pull "$ep") ;;
			unpacked) out=$(case_unpacked "$ep") ;;
			stream) out=$(case_stream "$ep") ;;
			ondemand) out=$(lading_case "$ep" cold --readahead 0) ;;
			readahead) out=$(lading_case "$ep" cold) ;;
			trace) out=$(lading_case "$ep" coldt) ;;
			local)	# the data on the node's disk already (the cache of a
				# run before), the page cache dropped
				rm -rf "$work/c"
				lading_run "docker://$ep/coldt:1.0" "$work/c"
				drop_caches
				out=$(KEEP_CACHE=1 lading_case "$ep" coldt) ;;
			esac
			log "$label $c run $i: $out"
			set -- $out
			walls="$walls $1" before=$2 total=$3
			if [ $# -gt 3 ]; then
				mounts="$mounts $4" works="$works $5" warms="$warms $6"
				fetches=$7 traced=$9
			else
				mounts="$mounts 0" fetches=- traced=-
				# unpacked: the whole run is the workload
				if [ "$c" = unpacked ]; then works="$works $1"; else works="$works 0"; fi
			fi
		done
		printf '%-9s %-18s %8s %8s %9s %12s %12s %8s %8s\n' "$label" "$c" \
			"$(median $walls)" "$(median $mounts)" "$(median $works)" "$before" \
			"$total" "$fetches" "$traced" >>"$work/table"
		[ -n "$warms" ] && [ "$c" = readahead ] &&
			printf '%-9s %-18s %8s %8s %9s %12s %12s %8s %8s\n' "$label" "warm" \
				"$(median $warms)" 0 "$(median $warms)" 0 0 0 - >>"$work/table"
	done
	if [ -n "$proxy" ]; then kill "$proxy"; wait "$proxy" 2>/dev/null || true; fi
	proxy=
done
printf 'image: %s bytes of layers (gzip), bootstrap %s bytes; %d runs per case, median\n' \
	"$layers_bytes" "$(python3 -c "import json;print(json.load(open('$work/conv.json'))['bootstrap_size'])")" "$REPEAT"
cat "$work/table"
# the cold cases against each warm one: the same image with its data on
# the node's disk, page cache dropped (local: a lading mount of a cache a
# run before filled; unpacked: the tree a pull left), and the workload run
# again with the page cache warm (warm)
python3 - "$work/table" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]).read().splitlines()[1:]]
by = {}
for r in rows:
    by.setdefault(r[0], {})[r[1]] = (float(r[2]), float(r[3]), float(r[4]))
print("ratios (workload_s; wall_s, mount included, where both have one)")
for rate, c in by.items():
    for case in ("ondemand", "readahead", "trace"):
        if case not in c:
            continue
        w, m, wl = c[case]
        parts = []
        if "local" in c:
            parts.append("%.2fx local (wall %.2fx)" % (wl / c["local"][2], w / c["local"][0]))
        if "unpacked" in c:
            parts.append("%.2fx unpacked" % (wl / c["unpacked"][2]))
        if "warm" in c:
            parts.append("%.2fx warm" % (wl / c["warm"][2]))
        if parts:
            print("%-9s %-10s %s" % (rate, case, ", ".join(parts)))
PY
