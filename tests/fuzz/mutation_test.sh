#!/usr/bin/env bash
# Mutation test of the bootstrap reader (ctest fuzz/mutations; with
# --seeds-only it is fuzz/seeds).
#
#  1. builds the seed images (make-seeds.sh) and runs them through
#     reader_replay: every lading-mkimage seed must be read completely;
#  2. writes LADING_FUZZ_MUTANTS (default 2400) mutants with reader_mutate
#     (seed LADING_FUZZ_SEED), plus a few "sweep" mutants per seed (one
#     boundary value in the same field of every inode; LADING_FUZZ_SWEEPS=0
#     leaves them out), and runs them all through reader_replay in one
#     process: no sanitizer report, no invariant failure, no hang;
#  3. runs every k-th mutant (>= 300) through
#     `lading-verify --no-blob-digest BOOTSTRAP` (blobs next to it): exit
#     0, 1 or 2 within 10 s, a message on stderr when non-zero, and no
#     sanitizer report.  Skipped (SKIP is printed) while $LADING_VERIFY does
#     not exist; parts 1 and 2 still decide.
#
# Environment: LADING_MKIMAGE, READER_REPLAY, READER_MUTATE, LADING_VERIFY
# (set by tests/fuzz/CMakeLists.txt); LADING_FUZZ_KEEP=1 keeps the work dir.
# Exit: 0 pass, 1 fail, 77 skip (no mkimage / replay binaries).
set -euo pipefail
umask 022

here=$(cd "$(dirname "$0")" && pwd)
seeds_only=0
[[ ${1:-} == --seeds-only ]] && seeds_only=1
mutants=${LADING_FUZZ_MUTANTS:-2400}
prng_seed=${LADING_FUZZ_SEED:-20240601}
verify_runs=${LADING_FUZZ_VERIFY_RUNS:-320}
verify=${LADING_VERIFY:-}

log() { printf 'fuzz: %s\n' "$*" >&2; }
fail() { printf 'FAIL: fuzz: %s\n' "$*" >&2; exit 1; }

for v in LADING_MKIMAGE READER_REPLAY READER_MUTATE; do
	if [[ -z ${!v:-} || ! -x ${!v} ]]; then
		log "SKIP: $v is not an executable (${!v:-unset})"
		exit 77
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/lading-fuzz.XXXXXX")
if [[ ${LADING_FUZZ_KEEP:-0} == 1 ]]; then
	log "work dir kept: $work"
else
	trap 'rm -rf "$work"' EXIT
fi

# Sanitizers: stop at the first report; LeakSanitizer on where supported.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=99}
SAN_RE='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|reader invariant broken|Segmentation fault|SUMMARY: '

# Runs reader_replay -v over a directory; the log names the input that
# was running when something went wrong.
replay() {	# replay DIR LOG
	local rc=0
	LADING_FUZZ_DEBUG=1 timeout 300 "$READER_REPLAY" -v "$1" >"$2.out" 2>"$2" || rc=$?
	if ((rc != 0)) || grep -Eq "$SAN_RE" "$2"; then
		grep 'reader_replay: /' "$2" | tail -n 1 >&2 || true
		grep -Ev '^reader_(replay|fuzz): ' "$2" | head -n 60 >&2 || true
		((rc == 124)) && log "reader_replay timed out (hang?)"
		fail "reader_replay exit status $rc on $1 (last input named above)"
	fi
}

# --- 1. seeds -------------------------------------------------------------
mkdir -p "$work/seeds" "$work/blobs"
"$here/make-seeds.sh" --blobs "$work/blobs" "$work/seeds" "$LADING_MKIMAGE" >/dev/null
replay "$work/seeds" "$work/seeds.log"
# each lading seed must open and walk without complaint
while read -r line; do
	name=${line#reader_replay: }
	name=${name%% (*}
	read -r result || true
	case $name in
	*/seed-mkfs-*) ;;	# another writer: the reader may refuse it
	*)
		[[ $result == 'reader_fuzz: walk: ret 0, '* ]] ||
			fail "seed ${name##*/} not read cleanly: $result"
		;;
	esac
done < <(grep -E '^reader_(replay: /|fuzz: )' "$work/seeds.log")
log "$(grep -c '^reader_fuzz: walk: ret 0,' "$work/seeds.log") of" \
	"$(grep -c '^reader_replay: /' "$work/seeds.log") seeds read completely" \
	"($(find "$work/seeds" -name 'seed-mkfs-*' | wc -l) from mkfs.erofs)"
((seeds_only)) && exit 0

# --- 2. mutants, in-process -------------------------------------------------
mkdir "$work/mut"
"$READER_MUTATE" -n "$mutants" -s "$prng_seed" "$work/mut" "$work/seeds"/seed-*.img >/dev/null
# LADING_FUZZ_SWEEPS=0 leaves out the sweep mutants (sNNN-sweepK.img)
[[ ${LADING_FUZZ_SWEEPS:-1} == 0 ]] && rm -f "$work/mut"/s*-sweep*.img
start=$SECONDS
replay "$work/mut" "$work/mut.log"
ran=$(grep -c '^reader_replay: .*/mut/m[0-9]' "$work/mut.log")
((ran >= mutants)) || fail "only $ran of $mutants mutants ran"
opened=$(grep -c '^reader_fuzz: walk:' "$work/mut.log" || true)
walked=$(grep -c '^reader_fuzz: walk: ret 0,' "$work/mut.log" || true)
all=$(grep -c '^reader_replay: /' "$work/mut.log")
log "$all mutants in-process in $((SECONDS - start)) s: $((all - opened)) refused" \
	"at open, $((opened - walked)) refused while walking, $walked read completely"

# --- 3. a subset through lading-verify ----------------------------------------
if [[ -z $verify || ! -x $verify ]]; then
	log "SKIP: lading-verify part: ${verify:-LADING_VERIFY unset} is not built yet"
	exit 0
fi
mkdir "$work/verify"
ln -s "$work/blobs"/* "$work/verify/" 2>/dev/null || true
step=$(( (mutants + verify_runs - 1) / verify_runs ))
((step < 1)) && step=1
runs=0 i=0
declare -A codes=()
for f in "$work/mut"/*.img; do
	((i++ % step == 0)) || continue
	cp "$f" "$work/verify/bootstrap"
	rc=0
	timeout -k 2 10 "$verify" --no-blob-digest "$work/verify/bootstrap" \
		>"$work/verify.out" 2>"$work/verify.err" || rc=$?
	runs=$((runs + 1))
	codes[$rc]=$(( ${codes[$rc]:-0} + 1 ))
	case $rc in
	0 | 1 | 2) ;;
	124 | 137) fail "lading-verify took more than 10 s on ${f##*/}" ;;
	*) cat "$work/verify.err" >&2
	   fail "lading-verify exit status $rc on ${f##*/} (kept as $work/verify/bootstrap)" ;;
	esac
	if grep -Eq "$SAN_RE" "$work/verify.err"; then
		head -n 60 "$work/verify.err" >&2
		fail "lading-verify sanitizer report on ${f##*/}"
	fi
	if ((rc != 0)) && [[ ! -s $work/verify.err ]]; then
		fail "lading-verify exit $rc without a message on ${f##*/}"
	fi
done
((runs >= 300 || runs >= mutants)) || fail "only $runs lading-verify runs"
summary=
for rc in "${!codes[@]}"; do summary+=" exit $rc: ${codes[$rc]};"; done
log "$runs mutants through lading-verify:$summary"
