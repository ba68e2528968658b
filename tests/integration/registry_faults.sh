#!/bin/bash
# The registry client against a misbehaving server (tests/tools/
# fault_registry.py on 127.0.0.1): 500s then success and 429 with
# Retry-After are retried; a connection cut mid-body resumes (stream) or
# restarts (whole blob); a server ignoring Range still yields the right
# bytes; a bearer token is fetched from the challenge's realm and never
# follows a redirect to another host (object storage); a corrupted
# byte is detected and never returned.  An image from a registry whose
# layer never ends, is cut short every time, or trickles at 2 bytes/s:
# lading-convert fails with one line naming the URL, within the deadline
# (--registry-timeout) or the minimum rate (--registry-min-rate), leaving
# its destination as it was; lading-prepare --seed-from stops at the
# minimum rate.
NEEDS_MOUNT=0
. "$(dirname "$0")/lib.sh"
require_cmd python3
[ -n "${LADING_FETCH_TEST:-}" ] || fail "LADING_FETCH_TEST not set"
here=$(cd "$(dirname "$0")" && pwd)

random_file "$WORK/blob" 3000000
digest=sha256:$(sha256sum "$WORK/blob" | cut -d' ' -f1)

serve() {	# serve MODE [PATH]: start the fault server, set $port and $srv
	# port 0: the server takes a free one and says which once it listens
	rm -f "$WORK/port"
	python3 "$here/../tools/fault_registry.py" 0 "${2:-$WORK/blob}" "$1" >"$WORK/port" &
	srv=$!
	for _ in $(seq 1 100); do
		port=$(cat "$WORK/port" 2>/dev/null || true)	# not there until the server runs
		[ -n "$port" ] && return 0
		sleep 0.1
	done
	fail "fault server did not start"
}

# fetch_ok MODE HOW [OFF LEN]: the bytes must be right
fetch_ok() {
	local mode=$1 how=$2 rc=0; shift 2
	serve "$mode"
	"$LADING_FETCH_TEST" "$how" "127.0.0.1:$port" test/repo "$digest" "$@" \
		>"$WORK/out" 2>"$WORK/err" || rc=$?
	kill $srv; wait $srv 2>/dev/null || true
	[ $rc = 0 ] || fail "$mode/$how: exit $rc: $(cat "$WORK/err")"
	if [ "$how" = range ]; then
		cmp -s "$WORK/out" <(tail -c +$(($1 + 1)) "$WORK/blob" | head -c "$2") ||
			fail "$mode/range $*: wrong bytes"
	else
		cmp -s "$WORK/out" "$WORK/blob" || fail "$mode/$how: wrong bytes"
	fi
	log "ok: $mode/$how $*"
}

for how in blob stream; do
	for mode in ok fail-twice retry-after drop bearer redirect; do
		fetch_ok "$mode" "$how"
	done
done
for mode in ok no-range fail-twice bearer; do
	fetch_ok "$mode" range 1000000 65536
done

# corruption: detected, nothing returned
serve corrupt
rc=0
"$LADING_FETCH_TEST" blob "127.0.0.1:$port" test/repo "$digest" >"$WORK/out" 2>"$WORK/err" || rc=$?
kill $srv; wait $srv 2>/dev/null || true
[ $rc = 1 ] && grep -q "hash to" "$WORK/err" || fail "corruption: exit $rc: $(cat "$WORK/err")"
[ ! -s "$WORK/out" ] || fail "corrupted bytes were returned"
log "ok: corruption detected: $(cat "$WORK/err")"

# ---- an image from a misbehaving registry ---------------------------------
# (the fault server serves an OCI layout; the faults hit its layer blobs)
[ -n "${LADING_CONVERT:-}" ] && [ -n "${LADING_PREPARE:-}" ] ||
	fail "LADING_CONVERT or LADING_PREPARE not set"
require_cmd timeout
cd "$WORK"
mkdir -p root/d
random_file root/d/f 300000
echo hi >root/a
tar -C root -cf layer.tar .
python3 "$here/make_oci.py" layout v1 layer.tar
"$LADING_CONVERT" -q oci:layout:v1 oci:existing:base || fail "setting up existing"

# snapshot DIR: names, types, sizes and content hashes ("absent")
snapshot() {
	if [ ! -e "$1" ]; then echo absent; return; fi
	(cd "$1" && find . -printf '%p %y %s\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# pull_fails MODE PATTERN [OPTIONS]: convert from the fault server fails
# with one line naming the layer's URL and PATTERN, within 60 s, and
# leaves a new and an existing destination as they were
pull_fails() {
	local mode=$1 pat=$2 dst rc before; shift 2
	serve "$mode" "$WORK/layout"
	for dst in new existing; do
		before=$(snapshot $dst)
		rc=0
		timeout 60 "$LADING_CONVERT" -q --plain-http "$@" \
			"docker://127.0.0.1:$port/test/img:v1" "oci:$dst:v1" 2>err || rc=$?
		[ $rc != 124 ] || { kill $srv; fail "$mode: convert hangs"; }
		[ $rc = 1 ] || { kill $srv; fail "$mode: exit $rc (want 1): $(cat err)"; }
		[ "$(wc -l <err)" = 1 ] || { kill $srv; fail "$mode: not one line: $(cat err)"; }
		grep -q "http://127.0.0.1:$port/v2/test/img/blobs/sha256:.*$pat" err ||
			{ kill $srv; fail "$mode: no URL and '$pat' in: $(cat err)"; }
		[ "$(snapshot $dst)" = "$before" ] ||
			{ kill $srv; fail "$mode: the destination $dst changed"; }
	done
	kill $srv; wait $srv 2>/dev/null || true
	log "ok: $mode: $(cat err)"
}
# the server's image converts when it behaves
serve ok "$WORK/layout"
"$LADING_CONVERT" -q --plain-http "docker://127.0.0.1:$port/test/img:v1" oci:good:v1 ||
	{ kill $srv; fail "a well-behaved fault server"; }
kill $srv; wait $srv 2>/dev/null || true

# a layer that never ends: stopped at its descriptor's size
pull_fails endless "more than the [0-9]* bytes the descriptor gives"
# a body cut short, every time: one line, the reason
pull_fails short "partial file\|bytes received"
# 2 bytes a second: the deadline, or the minimum rate, stops it
pull_fails trickle "not done within 2 s (--registry-timeout)" --registry-timeout 2
pull_fails trickle "slower than 100 bytes/s for 2 s (--registry-min-rate)" --registry-min-rate 100:2

# lading-prepare --seed-from a trickling registry: stopped by the rate
boot=$(python3 -c "
import json
idx = json.load(open('good/index.json'))
m = json.load(open('good/blobs/sha256/' + idx['manifests'][0]['digest'][7:]))
print('good/blobs/sha256/' + m['layers'][-1]['digest'][7:])")
serve trickle "$WORK/good"
rc=0
timeout 60 "$LADING_PREPARE" -q --plain-http --registry-min-rate 100:2 \
	--seed-from "docker://127.0.0.1:$port/test/img" "$boot" cache 2>err || rc=$?
kill $srv; wait $srv 2>/dev/null || true
[ $rc = 1 ] && grep -q "http://127.0.0.1:$port/v2/test/img/blobs/sha256:.*slower than 100 bytes/s" err ||
	fail "prepare --seed-from a trickle: exit $rc: $(cat err)"
log "ok: prepare: $(cat err)"
