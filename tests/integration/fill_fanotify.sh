#!/bin/bash
# lading-fill, fanotify back end, on this machine's kernel: a file-backed
# mount over an empty sparse cache, served from a blob directory (and from
# a registry): the mounted tree equals the source; reading one file fetches
# only that file's chunks; a restarted filler fetches nothing twice; a
# corrupted chunk gives EIO and never reaches the cache.
. "$(dirname "$0")/lib.sh"
require_cmd python3
[ -n "${LADING_FILL:-}" ] || fail "LADING_FILL not set"

mkdir -p "$WORK/src/d"
seq 1 400000 >"$WORK/src/text"			# ~2.6 MB, compressible
random_file "$WORK/src/rand" 1000000
random_file "$WORK/src/d/other" 300000
echo small >"$WORK/src/d/small"			# inline: never fetched
build_image "$WORK/src" -C 64K --compress zstd
boot=$IMG_BOOT blobs=$IMG_BLOB_DIR blob_id=$IMG_BLOB_ID

# start_filler CACHE SOURCE...: serve in the background until stop_filler
# (lib.sh)
start_filler() {
	local cache=$1 src args=(); shift
	for src in "$@"; do args+=(--source "$src"); done
	mount_filler "$boot" "$cache" "${args[@]}"
}
stat_of() { python3 -c "import json;print(json.load(open('$STATS'))['$1'])"; }

# 1. one file: only its chunks come (and, with readahead, the files stored
#    after it, up to 512 KiB)
FILL_OPTS="--readahead 0" start_filler "$WORK/cache1" "$blobs"
cmp "$WORK/src/d/other" "$MNT/d/other" || fail "d/other differs"
stop_filler
fetched=$(stat_of bytes_fetched)
[ "$fetched" -ge 300000 ] && [ "$fetched" -le $((300000 + 65536)) ] ||
	fail "reading a 300 KB file fetched $fetched bytes"
alloc=$(( $(stat -c %b "$WORK/cache1/$blob_id") * 512 ))
[ "$alloc" -le $((300000 + 2 * 65536 + 8192)) ] || fail "cache holds $alloc bytes after one file"
log "ok: one file read: $fetched bytes fetched, $alloc allocated"

# 2. everything, then a restart over the same cache fetches nothing
start_filler "$WORK/cache1" "$blobs"
treecmp "$WORK/src" "$MNT"
stop_filler
[ "$(stat_of verify_failures)" = 0 ] || fail "verification failures"
start_filler "$WORK/cache1" "$blobs"
treecmp "$WORK/src" "$MNT"
stop_filler
[ "$(stat_of chunks_fetched)" = 0 ] || fail "restart fetched $(stat_of chunks_fetched) chunks again"
log "ok: whole tree equal; restarted filler fetched nothing"

# 3. a corrupted chunk: EIO for its file, nothing bad in the cache.  The
#    blob holds d/other first (sorted walk), so its first chunk is the one
#    damaged at the start of the (compressed) artifact.
mkdir -p "$WORK/bad"
cp "$blobs/$blob_id" "$WORK/bad/"
flip_bytes "$WORK/bad/$blob_id" 20 2
start_filler "$WORK/cache2" "$WORK/bad"
if cat "$MNT/d/other" >/dev/null 2>"$WORK/cat.err"; then
	stop_filler
	fail "a corrupted chunk was served"
fi
grep -qi "input/output error" "$WORK/cat.err" || { stop_filler; fail "not EIO: $(cat "$WORK/cat.err")"; }
cmp "$WORK/src/rand" "$MNT/rand" || { stop_filler; fail "an intact file failed"; }
cmp "$WORK/src/text" "$MNT/text" || { stop_filler; fail "an intact file failed"; }
stop_filler
[ "$(stat_of verify_failures)" -ge 1 ] || fail "no verification failure counted"
python3 - "$WORK/cache2/$blob_id" <<'PY' || fail "bytes of the corrupted chunk reached the cache"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    d = os.lseek(fd, 0, os.SEEK_DATA)
except OSError:
    d = None
assert d is None or d >= 65536, d   # chunk 0 stays a hole
PY
log "ok: corrupted chunk -> EIO, cache keeps a hole"

# 5. concurrent readers of the same chunks fetch each chunk once
start_filler "$WORK/cache4" "$blobs"
for i in 1 2 3 4; do cat "$MNT/text" >"$WORK/text.$i" & done
wait $(jobs -p | grep -v "^$FILLER$") 2>/dev/null || true
for i in 1 2 3 4; do cmp "$WORK/src/text" "$WORK/text.$i" || { stop_filler; fail "reader $i differs"; }; done
stop_filler
size=$(stat -c %s "$WORK/src/text")
[ "$(stat_of bytes_fetched)" = "$size" ] ||
	fail "4 concurrent readers of $size bytes fetched $(stat_of bytes_fetched)"
log "ok: 4 concurrent readers, each chunk fetched once ($(stat_of chunks_fetched) chunks)"

# 6. --prefetch-list reads the listed file with nobody asking; --prefetch
#    then fills the rest; SIGUSR1 reports progress on stderr
echo text >"$WORK/list"
FILL_OPTS="--prefetch-list $WORK/list" start_filler "$WORK/cache6" "$blobs"
sleep 1
stop_filler
[ "$(stat_of bytes_fetched)" = "$size" ] ||
	fail "--prefetch-list text fetched $(stat_of bytes_fetched) bytes, not $size"
FILL_OPTS=--prefetch start_filler "$WORK/cache6" "$blobs"
total=$(stat -c %s "$WORK/cache6/$blob_id")
wait_completed 1 "the blob"
treecmp "$WORK/src" "$MNT"
stop_filler
[ "$(stat_of requests)" -gt 0 ] || fail "no requests counted"
[ "$(data_bytes "$WORK/cache6/$blob_id")" = "$total" ] || fail "prefetch left holes"
log "ok: prefetch-list fetched exactly the listed file; prefetch completed the blob"

# 7. kill -9 mid-run: the guardian detaches the mount, open files get EIO
#    for what is missing (never zeros); the next filler takes the group
#    over, serves the old reader the right bytes and fetches nothing twice
#    (no readahead: what is missing at 900000 must stay missing)
FILL_OPTS="--readahead 0" start_filler "$WORK/cache7" "$blobs"
python3 - "$MNT" "$FILLER" "$WORK/src" "$WORK/go7" <<'PY' &
import os, signal, sys, time
mnt, pid, src, go = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
want = open(src + "/rand", "rb").read()
fd = os.open(mnt + "/rand", os.O_RDONLY)
first = os.pread(fd, 200000, 0)
assert first == want[:200000], "first part differs"
os.kill(pid, signal.SIGKILL)
for _ in range(50):
    if mnt not in open("/proc/mounts").read():
        break
    time.sleep(0.1)
assert mnt not in open("/proc/mounts").read(), "still mounted after the filler died"
assert os.pread(fd, 100000, 0) == first[:100000], "present data not served"
try:
    d = os.pread(fd, 65536, 900000)
    raise SystemExit("missing data read as %r..." % d[:8])
except OSError as e:
    assert e.errno == 5, e
open(go + ".ready", "w").close()
for _ in range(600):
    if os.path.exists(go):
        break
    time.sleep(0.05)
assert os.pread(fd, len(want), 0) == want, "the restarted filler served other bytes"
PY
reader7=$!
for _ in $(seq 1 200); do
	[ -e "$WORK/go7.ready" ] && break
	kill -0 $reader7 2>/dev/null || break
	sleep 0.05
done
[ -e "$WORK/go7.ready" ] || { wait $reader7; fail "after kill -9"; }
wait $FILLER 2>/dev/null || true
before=$(data_bytes "$WORK/cache7/$blob_id")
start_filler "$WORK/cache7" "$blobs"
touch "$WORK/go7"
wait $reader7 || { stop_filler; fail "the old reader after the restart"; }
treecmp "$WORK/src" "$MNT"
stop_filler
total=$(stat -c %s "$WORK/cache7/$blob_id")
fetched=$(stat_of bytes_fetched)
[ "$fetched" -ge $((total - before - 4096 * 16)) ] && [ "$fetched" -le $((total - before + 65536)) ] ||
	fail "restart after kill -9 fetched $fetched bytes; $before of $total were there"
grep -q "took the fanotify group over" "$ERR" || fail "the old guardian's group was not taken over"
log "ok: kill -9 -> EIO for missing data, mount detached; restart served the old reader and fetched $fetched of $((total - before)) missing bytes"

# 7b. the issue's reproduction: a process opens a large uncached file, the
#     filler is killed, and 8 MiB in, 1 MiB read long after (longer than
#     the old guardian's minute) fails with EIO, never zeros.  The wait
#     runs while 8. to 10. do their work.
mkdir -p "$WORK/src7b"
random_file "$WORK/src7b/big" $((10 << 20))
build_image "$WORK/src7b" -C 64K
boot_main=$boot
boot=$IMG_BOOT start_filler "$WORK/cache7b" "$IMG_BLOB_DIR"
mnt7b=$MNT
mkdir -p "$WORK/ctl7b"
python3 "$(dirname "$0")/fill_reader.py" open "$MNT/big" "$WORK/src7b/big" "$WORK/ctl7b" &
reader7b=$!
for _ in $(seq 1 200); do [ -e "$WORK/ctl7b/ready" ] && break; sleep 0.05; done
[ -e "$WORK/ctl7b/ready" ] || fail "7b: the reader did not start"
kill -9 $FILLER
wait $FILLER 2>/dev/null || true
killed7b=$(date +%s)
boot=$boot_main

# 8. --daemon returns once mounted and writes the pid file
next_seq
mkdir -p "$WORK/mnt.d"
"$LADING_FILL" mount --backend fanotify --daemon --pid-file "$WORK/fill.pid" -q "$boot" "$WORK/mnt.d" \
	--source "$blobs" --cache "$WORK/cache8" || fail "--daemon exit $?"
grep -q " $WORK/mnt.d " /proc/mounts || fail "--daemon returned before mounting"
pid=$(cat "$WORK/fill.pid")
cmp "$WORK/src/rand" "$WORK/mnt.d/rand" || { kill $pid; fail "daemon mount differs"; }
kill $pid
for _ in $(seq 1 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
! grep -q " $WORK/mnt.d " /proc/mounts || fail "daemon did not unmount on SIGTERM"
[ ! -e "$WORK/fill.pid" ] || fail "pid file left behind"
log "ok: --daemon with a pid file"

# 9. the same from a registry
if command -v docker-registry >/dev/null 2>&1 && command -v skopeo >/dev/null 2>&1; then
	port=$((20000 + RANDOM % 20000))
	mkdir -p "$WORK/reg"
	printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
		"$WORK/reg/data" "$port" >"$WORK/reg/config.yml"
	docker-registry serve "$WORK/reg/config.yml" >"$WORK/reg/log" 2>&1 &
	regpid=$!
	wait_registry "$port" "$regpid" "$WORK/reg/log" || { kill $regpid; exit 1; }
	# a one-blob OCI image around the same blob, pushed with skopeo
	mkdir -p "$WORK/layout/blobs/sha256"
	cp "$blobs/$blob_id" "$WORK/layout/blobs/sha256/"
	python3 - "$WORK/layout" "$blob_id" <<'PY'
import hashlib, json, os, sys
d, b = sys.argv[1], sys.argv[2]
def put(x):
    h = hashlib.sha256(x).hexdigest()
    open(f"{d}/blobs/sha256/{h}", "wb").write(x)
    return "sha256:" + h, len(x)
size = os.path.getsize(f"{d}/blobs/sha256/{b}")
cd, cs = put(json.dumps({"architecture": "amd64", "os": "linux", "rootfs":
         {"type": "layers", "diff_ids": ["sha256:" + b]}}).encode())
md, ms = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
    "layers": [{"mediaType": "application/vnd.lading.blob.v1", "digest": "sha256:" + b, "size": size}]}).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "v1"}}]},
    open(f"{d}/index.json", "w"))
open(f"{d}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
	skopeo copy -q --dest-tls-verify=false oci:"$WORK/layout":v1 \
		"docker://127.0.0.1:$port/lazy/img:v1" || { kill $regpid; fail "skopeo push"; }
	FILL_OPTS=--plain-http start_filler "$WORK/cache3" "docker://127.0.0.1:$port/lazy/img"
	treecmp "$WORK/src" "$MNT"
	stop_filler
	kill $regpid
	log "ok: served from docker-registry on 127.0.0.1:$port"
else
	echo "SKIP (part): docker-registry or skopeo not installed"
fi

# 10. a stalled source (an http:// blob base URL): reads of missing data
#     fail after --timeout, cached data stays readable, and the filler
#     recovers when the source does
port=$((20000 + RANDOM % 20000))
python3 "$(dirname "$0")/../tools/fault_registry.py" "$port" "$blobs/$blob_id" ok &
fregpid=$!
for _ in $(seq 1 50); do
	curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break
	sleep 0.1
done
FILL_OPTS="--timeout 1" start_filler "$WORK/cache9" "http://127.0.0.1:$port/mirror/"
cmp "$WORK/src/d/other" "$MNT/d/other" || { stop_filler; kill $fregpid; fail "d/other differs"; }
kill -STOP $fregpid
t0=$(date +%s%N)
if cat "$MNT/rand" >/dev/null 2>"$WORK/cat.err"; then
	kill -CONT $fregpid; kill $fregpid; stop_filler; fail "read during the outage succeeded"
fi
t1=$(date +%s%N)
cmp "$WORK/src/d/other" "$MNT/d/other" || { kill -CONT $fregpid; kill $fregpid; stop_filler; fail "cached file unreadable during the outage"; }
kill -CONT $fregpid
ok_after=0
for _ in $(seq 1 40); do
	cmp -s "$WORK/src/rand" "$MNT/rand" && { ok_after=1; break; }
	sleep 0.5
done
# stopping while the source is stalled mid-fetch is prompt
kill -STOP $fregpid
cat "$MNT/text" >/dev/null 2>&1 &
sleep 0.5
s0=$(date +%s%N)
stop_filler
s1=$(date +%s%N)
kill -CONT $fregpid
kill $fregpid
[ $ok_after = 1 ] || fail "the filler did not recover after the outage"
[ $(( (s1 - s0) / 1000000 )) -lt 5000 ] || fail "stopping during a stall took $(( (s1 - s0) / 1000000 )) ms"
[ "$(stat_of timeouts)" -ge 1 ] || fail "no timeout counted"
log "ok: outage -> EIO after $(( (t1 - t0) / 1000000 )) ms ($(stat_of timeouts) kernel requests timed out at 1 s each), cache still served, recovered; stop during a stall took $(( (s1 - s0) / 1000000 )) ms"

# 7b, continued
left=$((killed7b + 65 - $(date +%s)))
[ $left -le 0 ] || sleep $left
echo read >"$WORK/ctl7b/cmd.1"
for _ in $(seq 1 200); do [ -e "$WORK/ctl7b/res.1" ] && break; sleep 0.05; done
got=$(cat "$WORK/ctl7b/res.1" 2>/dev/null || echo "no answer")
! grep -q " $mnt7b " /proc/mounts || fail "7b: still mounted after the filler died"
[ "$got" = eio ] || fail "7b: 1 MiB at 8 MiB, 65 s after kill -9, read: $got (not EIO)"
touch "$WORK/ctl7b/quit"
wait $reader7b
gone=0
for _ in $(seq 1 100); do
	python3 - "$WORK/cache7b" <<'PY' && { gone=1; break; }
import glob, sys
cache = sys.argv[1]
for p in glob.glob("/proc/[0-9]*/cmdline"):
    try:
        if ("--cache\0" + cache + "\0").encode() in open(p, "rb").read():
            sys.exit(1)
    except OSError:
        pass
PY
	sleep 0.1
done
[ $gone = 1 ] || fail "7b: the guardian is still there after its reader left"
log "ok: 65 s after kill -9, 1 MiB at 8 MiB of an uncached file: EIO, not zeros; guardian gone after the reader"
