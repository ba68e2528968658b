#!/bin/bash
# lading-fill, fanotify back end: after the filler dies, no reader ever
# sees zeros for data the cache lacks, however long it waits.  Readers that
# hold an open file, a cwd or a mapping in the (detached) mount get EIO /
# SIGBUS for missing data; the guardian holds the fanotify group as long as
# the image can be read, then leaves nothing behind (no process, no mark);
# a restarted filler takes the group over and serves the old readers with
# the right bytes; a clean stop with readers left hands them to the
# guardian too.
. "$(dirname "$0")/lib.sh"
require_cmd python3
[ -n "${LADING_FILL:-}" ] || fail "LADING_FILL not set"
READER=$(dirname "$0")/fill_reader.py
# longer than any wait the filler ever had (the old guardian left after 60 s
# without events); the design has no timeout of its own.  The variable only
# shortens a run by hand.
IDLE=${LADING_GUARDIAN_TEST_WAIT:-65}

mkdir -p "$WORK/src/d"
random_file "$WORK/src/big" $((10 << 20))
random_file "$WORK/src/map" $((10 << 20))
random_file "$WORK/src/d/cwd" $((10 << 20))
echo small >"$WORK/src/d/small"
build_image "$WORK/src" -C 64K
boot=$IMG_BOOT blobs=$IMG_BLOB_DIR blob_id=$IMG_BLOB_ID

# fill_daemon CACHE MNT: lading-fill mount --daemon; FILLER_PID set
fill_daemon() {
	next_seq
	mkdir -p "$2"
	FILL_ERR=$WORK/fill.$_seq.err
	if ! "$LADING_FILL" mount --backend fanotify --daemon --pid-file "$WORK/fill.pid" \
		"$boot" "$2" --source "$blobs" --cache "$1" 2>"$FILL_ERR"; then
		grep -q "back end unavailable" "$FILL_ERR" && skip "$(cat "$FILL_ERR")"
		fail "lading-fill mount --daemon: $(cat "$FILL_ERR")"
	fi
	FILLER_PID=$(cat "$WORK/fill.pid")
}
# readers MNT TAG: one reader of each kind, set up
readers() {
	local m
	for m in open:big mmap:map cwd:d/cwd; do
		mkdir -p "$WORK/ctl.$2.${m%%:*}"
		python3 "$READER" "${m%%:*}" "$1/${m#*:}" "$WORK/src/${m#*:}" "$WORK/ctl.$2.${m%%:*}" &
		READERS+=" $!"
	done
	for m in open mmap cwd; do wait_for "$WORK/ctl.$2.$m/ready" "reader $m"; done
}
wait_for() {
	for _ in $(seq 1 200); do [ -e "$1" ] && return 0; sleep 0.05; done
	fail "no $2 after 10 s"
}
# ask TAG KIND N read: the reader's answer to its N-th command
ask() {
	echo "$4" >"$WORK/ctl.$1.$2/cmd.$3"
	wait_for "$WORK/ctl.$1.$2/res.$3" "answer from reader $2"
	cat "$WORK/ctl.$1.$2/res.$3"
}
# expect TAG N RESULT-OF-open/cwd RESULT-OF-mmap
expect() {
	local k got want
	for k in open cwd mmap; do
		want=$3
		[ $k = mmap ] && want=$4
		got=$(ask "$1" $k "$2" read)
		[ "$got" = "$want" ] || fail "$1: reader '$k' (command $2) got '$got', not '$want'"
	done
}
mounted() { grep -q " $1 " /proc/mounts; }
wait_unmounted() {
	for _ in $(seq 1 100); do mounted "$1" || return 0; sleep 0.1; done
	fail "$1 still mounted"
}
# processes whose command line names CACHE (the filler and its guardian)
procs_of() {
	local p
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "--cache $1 " &&
			echo "${p#/proc/}"
	done
	return 0
}
# fanotify marks, in any process, on CACHE's blob file
marks_on() {
	python3 - "$1/$blob_id" <<'PY'
import glob, os, sys
st = os.stat(sys.argv[1])
key = "fanotify ino:%x sdev:%x " % (st.st_ino, os.major(st.st_dev) << 20 | os.minor(st.st_dev))
n = 0
for p in glob.glob("/proc/[0-9]*/fdinfo/*"):
    try:
        n += sum(l.startswith(key) for l in open(p))
    except OSError:
        pass
print(n)
PY
}
# nothing_left CACHE: no filler or guardian, no mark (waits for it, bounded)
nothing_left() {
	for _ in $(seq 1 100); do
		[ -z "$(procs_of "$1")" ] && [ "$(marks_on "$1")" = 0 ] && return 0
		sleep 0.1
	done
	fail "left behind on $1: processes [$(procs_of "$1")], $(marks_on "$1") fanotify marks"
}

quit_readers() {
	local k
	for k in open cwd mmap; do touch "$WORK/ctl.$1.$k/quit"; done
	wait $READERS
	READERS=
}
wait_gone() {
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	fail "pid $1 did not exit"
}
only_cache_files() {
	local extra
	extra=$(ls -A "$1" | grep -vxE "[0-9a-f]{64}|\.lading-toc" || true)
	[ -z "$extra" ] || fail "$1 holds more than the cache: $extra"
}

# a failed run leaves no filler, guardian or reader behind
kill_leftovers() {
	local c p
	for c in "$WORK"/cache*; do
		for p in $(procs_of "$c"); do kill -9 "$p" 2>/dev/null || true; done
	done
	for p in $READERS ${readers_a:-}; do kill -9 "$p" 2>/dev/null || true; done
}
trap 'rc=$?; kill_leftovers; (exit $rc); cleanup_work' EXIT

# 1. kill -9 with readers in the mount, each at 8 MiB of an uncached file:
#    the guardian detaches the mount and the readers get EIO (SIGBUS for
#    the mapping), never zeros, still after $IDLE s.  The wait runs while
#    2. and 3. do their work.
READERS=
fill_daemon "$WORK/cache1" "$WORK/mnt1"
readers "$WORK/mnt1" a
readers_a=$READERS READERS=
kill -9 "$FILLER_PID"
killed_at=$(date +%s)
wait_unmounted "$WORK/mnt1"
expect a 1 eio sigbus
log "ok: filler killed: the mount is detached, its readers get EIO / SIGBUS; waiting $IDLE s"
# the guardian's socket is abstract: a user other than ours who connects
# gets no fanotify group (it could allow reads of holes); the guardian
# goes on holding it (the readers still get EIO at the end of 1.)
python3 - "$WORK/cache1" <<'PYEOF' || fail "another user was handed the fanotify group"
import os, socket, sys
st = os.stat(sys.argv[1])
name = "\0lading-fill-fanotify-%x-%x" % (st.st_dev, st.st_ino)
os.setgid(65534)
os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(name)
msg, anc, flags, addr = s.recvmsg(1, socket.CMSG_LEN(4))
sys.exit(1 if any(a[1] == socket.SCM_RIGHTS for a in anc) else 0)
PYEOF
log "ok: a stranger connecting to the guardian gets nothing"

# 2. a restarted filler on the same cache and mount point takes the group
#    over and serves the old readers; then nothing is left
fill_daemon "$WORK/cache2" "$WORK/mnt2"
readers "$WORK/mnt2" b
kill -9 "$FILLER_PID"
wait_unmounted "$WORK/mnt2"
expect b 1 eio sigbus
fill_daemon "$WORK/cache2" "$WORK/mnt2"
expect b 2 data data
grep -q "took the fanotify group over" "$FILL_ERR" || fail "no take-over: $(cat "$FILL_ERR")"
cmp "$WORK/src/d/cwd" "$WORK/mnt2/d/cwd" || fail "the new mount differs"
quit_readers b
kill -TERM "$FILLER_PID"
wait_gone "$FILLER_PID"
! mounted "$WORK/mnt2" || fail "mnt2 still mounted after SIGTERM"
nothing_left "$WORK/cache2"
only_cache_files "$WORK/cache2"
log "ok: restarted filler took the group over and served the old readers the right bytes"

# 3. a clean stop with readers left: the guardian answers them from the
#    cache until they are gone
fill_daemon "$WORK/cache3" "$WORK/mnt3"
readers "$WORK/mnt3" c
kill -TERM "$FILLER_PID"
wait_gone "$FILLER_PID"
! mounted "$WORK/mnt3" || fail "mnt3 still mounted after SIGTERM"
expect c 1 eio sigbus
[ -n "$(procs_of "$WORK/cache3")" ] || fail "no guardian for the readers of a stopped filler"
grep -q "the image is still in use" "$FILL_ERR" || fail "the stop did not say: $(cat "$FILL_ERR")"
quit_readers c
nothing_left "$WORK/cache3"
log "ok: clean stop with readers left: EIO / SIGBUS until they are gone, then nothing left"

# 4. a second filler on a cache a live filler serves is refused, and the
#    first one keeps its group
fill_daemon "$WORK/cache4" "$WORK/mnt4"
mkdir -p "$WORK/mnt4b"
if timeout 60 "$LADING_FILL" mount --backend fanotify "$boot" "$WORK/mnt4b" --source "$blobs" \
	--cache "$WORK/cache4" 2>"$WORK/second.err"; then
	fail "a second filler served the same cache"
fi
grep -q "another lading-fill serves this cache" "$WORK/second.err" ||
	fail "second filler: $(cat "$WORK/second.err")"
! mounted "$WORK/mnt4b" || fail "the second filler mounted"
cmp "$WORK/src/map" "$WORK/mnt4/map" || fail "the first filler no longer serves"
kill -TERM "$FILLER_PID"
wait_gone "$FILLER_PID"
nothing_left "$WORK/cache4"
log "ok: a second filler on a served cache is refused"

# 1, continued
left=$((killed_at + IDLE - $(date +%s)))
[ $left -le 0 ] || sleep $left
expect a 2 eio sigbus
[ -n "$(procs_of "$WORK/cache1")" ] || fail "the guardian left while readers remain"
[ "$(marks_on "$WORK/cache1")" -ge 1 ] || fail "no mark while readers remain"
python3 - "$WORK/cache1/$blob_id" <<'PY' || fail "the cache holds data nobody fetched"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    os.lseek(fd, 0, os.SEEK_DATA)
    raise SystemExit(1)
except OSError:
    pass
PY
READERS=$readers_a
quit_readers a
nothing_left "$WORK/cache1"
only_cache_files "$WORK/cache1"
log "ok: $IDLE s after kill -9: EIO / SIGBUS, never zeros; after the readers: no process, no mark"
