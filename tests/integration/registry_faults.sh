#!/bin/bash
# The registry client against a misbehaving server (tests/tools/
# fault_registry.py on 127.0.0.1): 500s then success and 429 with
# Retry-After are retried; a connection cut mid-body resumes (stream) or
# restarts (whole blob); a server ignoring Range still yields the right
# bytes; a bearer token is fetched from the challenge's realm and never
# follows a redirect to another host (object storage); a corrupted
# byte is detected and never returned.
NEEDS_MOUNT=0
. "$(dirname "$0")/lib.sh"
require_cmd python3
[ -n "${LADING_FETCH_TEST:-}" ] || fail "LADING_FETCH_TEST not set"
here=$(cd "$(dirname "$0")" && pwd)

random_file "$WORK/blob" 3000000
digest=sha256:$(sha256sum "$WORK/blob" | cut -d' ' -f1)

serve() {	# serve MODE: start the fault server, set $port and $srv
	port=$((20000 + RANDOM % 20000))
	python3 "$here/../tools/fault_registry.py" "$port" "$WORK/blob" "$1" &
	srv=$!
	for _ in $(seq 1 50); do
		python3 -c "import socket;socket.create_connection(('127.0.0.1',$port),1)" \
			2>/dev/null && return 0
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
