#!/bin/bash
# A trace published with the image (issue 14, item 2): a run of the
# original tag is recorded (lading-fill --record), lading-convert --attach
# --prefetch-list publishes it as a layer of the lading manifest (entries
# naming other blobs dropped with a warning); a node mounting the original
# tag on a fresh cache fetches the traced chunks before any read asks for
# them (the reads are all hits) and says so in --json; attaching again
# with another trace publishes a newer referrer, which the node picks; an
# explicit --prefetch-trace wins; a published trace that does not match
# its digest is not used (the image still mounts).
. "$(dirname "$0")/lib.sh"
require_cmd python3 umoci skopeo curl
[ -n "${LADING_FILL:-}" ] || fail "LADING_FILL not set"
here=$(cd "$(dirname "$0")" && pwd)
cd "$WORK"
# a filler left by a failure is stopped before the work dir goes
trap 'rc=$?; [ -n "${FILLER:-}" ] && kill -TERM "$FILLER" 2>/dev/null && wait "$FILLER" 2>/dev/null; (exit $rc); cleanup_work' EXIT

mkdir -p src/d
random_file src/a 200000		# 4 chunks of 64 KiB
random_file src/b 150000		# 3 chunks
random_file src/big 2000000		# 31 chunks
random_file src/d/unread 300000
tar -C src -cf l1.tar .
python3 "$here/make_oci.py" img v1 l1.tar

start_registry "$WORK/reg" || skip "docker-registry is not installed"
R=127.0.0.1:$REG_PORT
REG="--plain-http"
skopeo copy -q --dest-tls-verify=false oci:img:v1 "docker://$R/app:1.0" || fail "skopeo push"
# conversions are reproducible: the same blobs each time; created times
# (the referrer order) from SOURCE_DATE_EPOCH
attach() {
	SOURCE_DATE_EPOCH=$1 "$LADING_CONVERT" --json $REG -C 64K --compress zstd \
		--attach "docker://$R/app:1.0" "${@:2}" >conv.json 2>conv.err ||
		fail "convert --attach $*: $(cat conv.err)"
}
attach 1000000000

FILL_OPTS="--readahead 0 $REG"
# wait until N chunks are fetched (the replay), then read FILES: all hits
replay_then_read() {
	local n=$1; shift
	wait_fetched "$n"
	[ "$chunks0" -eq "$n" ] || fail "the replay fetched $chunks0 chunks, not $n"
	for f in "$@"; do cmp "src/$f" "$MNT/$f" || fail "$f differs"; done
	stop_filler
	req=$(( $(sget requests) - req0 )) hits=$(( $(sget hits) - hits0 ))
	[ "$req" -gt 0 ] && [ "$req" = "$hits" ] ||
		fail "after the replay, $req requests and only $hits hits"
	[ "$(sget chunks_fetched)" = "$n" ] || fail "the reads fetched more chunks"
}

# 1. record a run of the original tag (no trace published yet)
start_filler "docker://$R/app:1.0" c-rec --record "$WORK/run.trace"
cat "$MNT/a" "$MNT/d/unread" >/dev/null
stop_filler
[ "$(sget trace_source)" = "" ] || fail "a trace was used before one was published"
[ "$(sget trace_chunks)" = 0 ] || fail "trace_chunks $(sget trace_chunks) without a trace"
records=$(($(wc -l <run.trace) - 1))
[ "$records" = 9 ] || fail "recorded $records chunks, not 4 + 5: $(cat run.trace)"

# 2. publish it, with one entry of a blob this image does not have
cp run.trace pub.trace
echo "9999 $(printf other | sha256sum | cut -d' ' -f1) 0 /elsewhere" >>pub.trace
attach 1000000100 --prefetch-list pub.trace
grep -q "1 of 10 entries name no blob of this image" conv.err ||
	fail "no warning about the unknown blob: $(cat conv.err)"
python3 - "$R" <<'PY' || fail "trace layer: $(cat conv.json)"
import json, subprocess, sys
r = json.load(open("conv.json"))
assert r["trace_entries"] == 9 and r["trace_dropped"] == 1 and r["trace_digest"], r
man = json.loads(subprocess.check_output(["skopeo", "inspect", "--raw", "--tls-verify=false",
    "docker://%s/app@%s" % (sys.argv[1], r["attached"][0]["manifest"])]))
t = [l for l in man["layers"] if l["mediaType"] == "application/vnd.lading.trace.v1"]
assert len(t) == 1 and t[0]["digest"] == r["trace_digest"], man
PY
trace1=$(jget "['trace_digest']")
log "ok: --prefetch-list published $trace1, the unknown entry dropped"

# 3. a fresh node mounts the original tag: the traced chunks come first
start_filler "docker://$R/app:1.0" c-node
replay_then_read 9 a d/unread
[ "$(sget trace_source)" = published ] || fail "trace_source $(sget trace_source)"
[ "$(sget trace_digest)" = "$trace1" ] || fail "trace_digest $(sget trace_digest)"
[ "$(sget trace_chunks)" = 9 ] || fail "trace_chunks $(sget trace_chunks)"
[ -f "c-node/.lading-traces/${trace1#sha256:}" ] || fail "the trace is not kept in the cache"
log "ok: the published trace fetched at mount, the traced reads all hits"

# 4. an explicit --prefetch-trace wins (an empty one: nothing replayed);
#    its run, recorded, is attached again: the newer referrer is picked
echo "lading-trace 1" >empty.trace
start_filler "docker://$R/app:1.0" c-rec2 --prefetch-trace "$WORK/empty.trace" \
	--record "$WORK/run2.trace"
cat "$MNT/b" >/dev/null
stop_filler
[ "$(sget trace_source)" = file ] || fail "explicit trace: trace_source $(sget trace_source)"
[ "$(sget chunks_fetched)" = 3 ] || fail "explicit empty trace: $(sget chunks_fetched) chunks fetched"
attach 1000000200 --prefetch-list run2.trace
trace2=$(jget "['trace_digest']")
[ "$trace2" != "$trace1" ] || fail "the second trace is the first"
start_filler "docker://$R/app:1.0" c-node2
replay_then_read 3 b
[ "$(sget trace_digest)" = "$trace2" ] || fail "not the newest trace: $(sget trace_digest)"
log "ok: --prefetch-trace wins; attaching again publishes a newer trace, which is used"

# 5. an OCI layout whose trace blob does not match its digest: the image
#    mounts without it, one warning says why
"$LADING_CONVERT" -q -C 64K --compress zstd --prefetch-list run.trace oci:img:v1 \
	oci:lay:lazy 2>lay.err || fail "convert to a layout: $(cat lay.err)"
tb=lay/blobs/sha256/$(python3 -c "
import json
idx = json.load(open('lay/index.json'))
d = [m for m in idx['manifests'] if m['annotations']['org.opencontainers.image.ref.name'] == 'lazy'][0]
man = json.load(open('lay/blobs/sha256/' + d['digest'][7:]))
print([l for l in man['layers'] if l['mediaType'] == 'application/vnd.lading.trace.v1'][0]['digest'][7:])")
chmod u+w "$tb"
sed -i 's/lading-trace 1/lading-trace 2/' "$tb"
start_filler "oci:$WORK/lay:lazy" c-lay
cmp src/a "$MNT/a" || fail "a differs"
stop_filler
grep -q "published trace is not used.*does not match\|published trace is not used.*not what its descriptor" "$ERR" ||
	fail "no warning: $(cat "$ERR")"
[ "$(sget trace_source)" = "" ] && [ "$(sget trace_chunks)" = 0 ] ||
	fail "a damaged trace was used: $(cat "$STATS")"
[ ! -e "c-lay/.lading-traces/${tb##*/}" ] || fail "the damaged trace was kept"
log "ok: a trace not matching its digest is not used"
