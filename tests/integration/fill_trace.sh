#!/bin/bash
# lading-fill on the fanotify back end: --record writes the chunks the
# kernel needed (not what readahead fetched), in order, with their files;
# --prefetch-trace fetches a trace's chunks before any read asks for them;
# the filler's readahead reads a sequential file in fewer, larger fetches
# and nothing past the first window, nor past the file but the files
# stored after it (up to 512 KiB: a miss in a small file brings its
# neighbours in the same read); trace-merge; malformed
# traces give a one-line error naming the file and the line.
. "$(dirname "$0")/lib.sh"
require_cmd python3
[ -n "${LADING_FILL:-}" ] || fail "LADING_FILL not set"

mkdir -p "$WORK/src/d"
random_file "$WORK/src/a" 200000		# 4 chunks of 64 KiB
random_file "$WORK/src/b" 150000		# 3 chunks
random_file "$WORK/src/big" 8000000		# 123 chunks
random_file "$WORK/src/d/unread" 300000
# small files stored one after the other (tree order), one chunk each
mkdir -p "$WORK/src/s"
for i in $(seq -w 0 39); do random_file "$WORK/src/s/$i" 20000; done
build_image "$WORK/src" -C 64K --compress zstd
boot=$IMG_BOOT blobs=$IMG_BLOB_DIR blob_id=$IMG_BLOB_ID

# start_filler CACHE [OPTION...]: serve the image in the background until
# stop_filler (lib.sh)
start_filler() {
	local cache=$1; shift
	mount_filler "$boot" "$cache" --source "$blobs" "$@"
}
stat_of() { python3 -c "import json;print(json.load(open('$STATS'))['$1'])"; }
# read the first 4 KiB of FILE with the kernel's readahead off for it
read_head() {
	python3 - "$1" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
assert len(os.pread(fd, 4096, 0)) == 4096
PY
}
# trace_check TRACE: the records as "path chunk-count first-chunk" lines,
# after checking the header, the order of times and the blob id
trace_summary() {
	python3 - "$1" "$blob_id" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[0] == "lading-trace 1", lines[0]
assert lines[-1] == "", "no final newline"
last, files = -1, {}
order = []
for l in lines[1:-1]:
    ms, blob, chunk, path = l.split(" ")
    assert int(ms) >= last, "times not in order: " + l
    last = int(ms)
    assert blob == sys.argv[2], l
    if path not in files:
        files[path] = []
        order.append(path)
    files[path].append(int(chunk))
for p in order:
    c = files[p]
    assert c == list(range(c[0], c[0] + len(c))), p + ": chunks not in order"
    print(p, len(c), c[0])
PY
}

# 1. --record: what the kernel needed, in order, with the files
start_filler "$WORK/cache1" --record "$WORK/t1"
cat "$MNT/a" >/dev/null
live_stats >/dev/null		# SIGUSR1 writes the trace so far
[ "$(trace_summary "$WORK/t1" | cut -d' ' -f1-2)" = "/a 4" ] ||
	fail "trace on SIGUSR1: $(cat "$WORK/t1")"
cat "$MNT/b" >/dev/null
read_head "$MNT/big"
stop_filler
summary=$(trace_summary "$WORK/t1") || fail "bad trace: $(cat "$WORK/t1")"
log "trace: $(echo "$summary" | tr '\n' ';')"
[ "$(echo "$summary" | cut -d' ' -f1-2 | tr '\n' ' ')" = "/a 4 /b 3 /big 1 " ] ||
	fail "trace lists $(echo "$summary" | tr '\n' ';'), not a's 4 chunks, b's 3 and big's first"
records=$(($(wc -l <"$WORK/t1") - 1))
# readahead fetched more of big than the kernel asked for: not in the trace
[ "$(stat_of chunks_fetched)" -gt "$records" ] && [ "$(stat_of readahead_chunks)" -gt 0 ] ||
	fail "readahead fetched nothing beyond the trace ($(cat "$STATS"))"
log "ok: --record: $records chunks needed, $(stat_of chunks_fetched) fetched"

# --record-duration: what comes after it is not recorded (the mount takes
# longer than a millisecond)
start_filler "$WORK/cache1b" --record "$WORK/t0" --record-duration 0.001
cat "$MNT/a" >/dev/null
stop_filler
[ "$(cat "$WORK/t0")" = "lading-trace 1" ] || fail "recorded past the duration: $(cat "$WORK/t0")"

# 2. --prefetch-trace: fetched at mount, before the reads, which all hit
start_filler "$WORK/cache2" --prefetch-trace "$WORK/t1" --readahead 0
wait_fetched "$records"
[ "$chunks0" -eq "$records" ] || fail "prefetch-trace fetched $chunks0 chunks, not $records"
cat "$MNT/a" >/dev/null
cat "$MNT/b" >/dev/null
read_head "$MNT/big"
stop_filler
req=$(( $(stat_of requests) - req0 )) hits=$(( $(stat_of hits) - hits0 ))
[ "$req" -gt 0 ] && [ "$req" = "$hits" ] ||
	fail "after the replay, $req requests and only $hits hits"
[ "$(stat_of chunks_fetched)" = "$chunks0" ] || fail "the reads fetched more chunks"
log "ok: --prefetch-trace: $chunks0 chunks before the reads, $req requests all hits"

# 3. readahead: a sequential read makes fewer, larger fetches, and reads
#    nothing past the file but (when the file ends inside the window) the
#    chunks stored after it, up to 512 KiB
start_filler "$WORK/cache3" --readahead 0
cmp "$WORK/src/big" "$MNT/big" || fail "big differs (no readahead)"
stop_filler
f0=$(stat_of fetches) c0=$(stat_of chunks_fetched)
start_filler "$WORK/cache4"
cmp "$WORK/src/big" "$MNT/big" || fail "big differs (readahead)"
stop_filler
f1=$(stat_of fetches) c1=$(stat_of chunks_fetched)
b1=$(stat_of bytes_fetched)
[ "$c0" = 123 ] && [ "$c1" -ge 123 ] && [ "$b1" -le $((8000000 + 524288)) ] ||
	fail "reading big fetched $c0 / $c1 chunks ($b1 bytes), not 123 (+ up to 512 KiB after it)"
[ $((f1 * 2)) -le "$f0" ] || fail "readahead made $f1 fetches, without $f0"
[ "$(stat_of verify_failures)" = 0 ] || fail "verification failures"
log "ok: sequential read of 123 chunks: $f0 fetches without readahead, $f1 with"

# the first window is bounded: a 4 KiB read of a cold file fetches its
# chunk and the two after it (128 KiB), nothing more; a miss elsewhere in
# the file starts over with the first window
start_filler "$WORK/cache5"
read_head "$MNT/big"
read -r _ _ c <<<"$(live_stats)"
[ "$c" = 3 ] || fail "a 4 KiB read fetched $c chunks, not 1 + 2"
python3 - "$MNT/big" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
assert len(os.pread(fd, 4096, 60 * 65536)) == 4096
PY
stop_filler
[ "$(stat_of chunks_fetched)" = 6 ] && [ "$(stat_of readahead_chunks)" = 4 ] ||
	fail "two random 4 KiB reads fetched $(stat_of chunks_fetched) chunks ($(stat_of readahead_chunks) read ahead), not 2 x (1 + 2)"
log "ok: first window: 1 + 2 chunks, again after a random miss"

# a miss in a small file: its chunk and those of the files stored after it
# that fit in 512 KiB (26 x 20,000 bytes), in one read; nothing more; a
# read of one of them is a hit, the next file a miss again
start_filler "$WORK/cache5s"
read_head "$MNT/s/00"
read -r _ _ c <<<"$(live_stats)"
[ "$c" = 27 ] || fail "a read of s/00 fetched $c chunks, not 1 + 26 neighbours"
read_head "$MNT/s/26"
read -r _ _ c <<<"$(live_stats)"
[ "$c" = 27 ] || fail "a read of s/26 (read ahead) fetched more: $c chunks"
read_head "$MNT/s/27"
read -r _ _ c <<<"$(live_stats)"
[ "$c" -gt 27 ] || fail "a read of s/27 fetched nothing"
for i in 00 26 27; do cmp "$WORK/src/s/$i" "$MNT/s/$i" || fail "s/$i differs"; done
stop_filler
[ "$(stat_of fetches)" -le 3 ] || fail "the neighbours took $(stat_of fetches) fetches"
log "ok: a small file's miss: 1 + 26 neighbours in one fetch, then a miss past them"

# 4. trace-merge: each chunk once, at its earliest time, in time order
{
	echo "lading-trace 1"
	echo "0 $blob_id 999 /late\\x20name"
	sed -n '2p' "$WORK/t1"
} >"$WORK/t2"
"$LADING_FILL" trace-merge "$WORK/merged" "$WORK/t1" "$WORK/t2" ||
	fail "trace-merge failed"
python3 - "$WORK/t1" "$WORK/merged" "$blob_id" <<'PY' || fail "merged trace is wrong: $(head -3 "$WORK/merged")"
import sys
t1 = open(sys.argv[1]).read().split("\n")[1:-1]
m = open(sys.argv[2]).read().split("\n")
assert m[0] == "lading-trace 1"
assert m[1] == "0 %s 999 /late\\x20name" % sys.argv[3], m[1]
rest = m[2:-1]
assert [l.split(" ", 1)[1] for l in rest] == [l.split(" ", 1)[1] for l in t1], rest
PY
log "ok: trace-merge"

# 5. malformed traces: one line naming the file and the line; no mount,
#    no output
bad() {
	local name=$1; shift
	printf "$@" >"$WORK/$name"
	local rc=0
	mkdir -p "$WORK/mnt.bad"
	"$LADING_FILL" mount --backend fanotify --prefetch-trace "$WORK/$name" "$boot" \
		"$WORK/mnt.bad" --source "$blobs" --cache "$WORK/cache.bad" \
		2>"$WORK/bad.err" || rc=$?
	[ $rc = 1 ] || fail "$name: exit $rc"
	! grep -q " $WORK/mnt.bad " /proc/mounts || fail "$name: mounted"
	[ "$(wc -l <"$WORK/bad.err")" = 1 ] || fail "$name: $(cat "$WORK/bad.err")"
	grep -q "$WORK/$name:$EXPECT_LINE: " "$WORK/bad.err" ||
		fail "$name: message does not name the line: $(cat "$WORK/bad.err")"
	rc=0
	"$LADING_FILL" trace-merge "$WORK/out.$name" "$WORK/t1" "$WORK/$name" \
		2>"$WORK/bad.err" || rc=$?
	[ $rc = 1 ] && [ ! -e "$WORK/out.$name" ] || fail "trace-merge $name: exit $rc"
	grep -q "$WORK/$name:$EXPECT_LINE: " "$WORK/bad.err" ||
		fail "trace-merge $name: $(cat "$WORK/bad.err")"
	log "ok: $name: $(cat "$WORK/bad.err")"
}
EXPECT_LINE=1 bad no-header 'lading-trace 2\n'
EXPECT_LINE=1 bad empty ''
EXPECT_LINE=2 bad short-id "lading-trace 1\n0 abc 0 /a\n"
EXPECT_LINE=3 bad bad-chunk "lading-trace 1\n0 $blob_id 0 /a\n1 $blob_id 99999999999 /a\n"
EXPECT_LINE=2 bad bad-escape "lading-trace 1\n0 $blob_id 0 /a\\\\q\n"
EXPECT_LINE=2 bad relative "lading-trace 1\n0 $blob_id 0 a\n"
python3 -c "print('lading-trace 1'); print('0 $blob_id 0 /' + 'x' * 30000)" >"$WORK/long"
EXPECT_LINE=2 bad long "$(cat "$WORK/long")\n"
log "ok: malformed traces"
