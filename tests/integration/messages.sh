#!/bin/bash
# Messages name entries without letting a name forge output: control
# characters, terminal escapes and bytes that are not UTF-8 are escaped,
# in stderr, in verify's listing and in JSON; a message too long for its
# buffer loses the middle of its path, never its reason.
NEEDS_MOUNT=0
. "$(dirname "$0")/lib.sh"
require_tool LADING_VERIFY

T=$WORK/in
mkdir -p "$T"
python3 - "$T" <<'PYEOF'
import io, sys, tarfile
d = sys.argv[1]
evil = "forge\nlading-mkimage: done, all good\x1b[2J"
def member(t, name, data=None, link=None):
    m = tarfile.TarInfo(name)
    if link is not None:
        m.type = tarfile.LNKTYPE
        m.linkname = link
        t.addfile(m)
    else:
        m.size = len(data)
        t.addfile(m, io.BytesIO(data))
with tarfile.open(d + "/forge.tar", "w", format=tarfile.PAX_FORMAT) as t:
    member(t, "ok", b"hello")
    member(t, evil, link="missing")
long = "/".join(["d" * 200] * 30) + "/x"
with tarfile.open(d + "/long.tar", "w", format=tarfile.PAX_FORMAT) as t:
    member(t, long, link="missing")
# the same file in two versions, its name not UTF-8 and with a newline
raw = "evil\nlading-verify: done, all good\udcff"
for v, data in (("a", b"hello"), ("b", b"HELLO")):
    with tarfile.open("%s/%s.tar" % (d, v), "w", format=tarfile.GNU_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as t:
        member(t, raw, data)
PYEOF

# one line, the name escaped, no raw control byte
rc=0
"$LADING_MKIMAGE" "$WORK/o.img" "$T/forge.tar" >/dev/null 2>"$WORK/err" || rc=$?
[ $rc -eq 1 ] || fail "forged name: expected exit 1, got $rc"
[ "$(wc -l <"$WORK/err")" -eq 1 ] || { cat -A "$WORK/err" >&2; fail "forged name: not one line"; }
grep -qF 'forge\nlading-mkimage: done, all good\x1b[2J' "$WORK/err" ||
	{ cat -A "$WORK/err" >&2; fail "forged name: not escaped"; }
LC_ALL=C grep -q $'\x1b' "$WORK/err" && fail "forged name: raw ESC on stderr"
log "ok: $(cat "$WORK/err")"

# a long path: the reason survives, the middle of the path goes
rc=0
"$LADING_MKIMAGE" "$WORK/o.img" "$T/long.tar" >/dev/null 2>"$WORK/err" || rc=$?
[ $rc -eq 1 ] || fail "long name: expected exit 1, got $rc"
[ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "long name: not one line"
grep -q "hardlink target 'missing' does not exist\$" "$WORK/err" ||
	{ tail -c 300 "$WORK/err" >&2; fail "long name: the reason was cut off"; }
grep -qF '...' "$WORK/err" || fail "long name: not shortened in the middle"
log "ok: long name: $(wc -c <"$WORK/err") bytes, ends with the reason"

# verify --source lists the differing file, escaped, in text and in JSON
"$LADING_MKIMAGE" "$WORK/v.img" "$T/a.tar" >/dev/null
rc=0
"$LADING_VERIFY" --source "$T/b.tar" "$WORK/v.img" >"$WORK/out" 2>&1 || rc=$?
[ $rc -eq 1 ] || { cat "$WORK/out" >&2; fail "verify --source: expected exit 1, got $rc"; }
grep -qF 'evil\nlading-verify: done, all good\xff' "$WORK/out" ||
	{ cat -A "$WORK/out" >&2; fail "verify --source: name not escaped"; }
grep -q '^lading-verify: done' "$WORK/out" && fail "verify --source: a name forged a line"
rc=0
"$LADING_VERIFY" --json --source "$T/b.tar" "$WORK/v.img" >"$WORK/out.json" 2>/dev/null || rc=$?
[ $rc -eq 1 ] || fail "verify --json --source: expected exit 1, got $rc"
python3 - "$WORK/out.json" <<'PYEOF' || fail "verify --json: not valid UTF-8 JSON, or the name is lost"
import json, sys
raw = open(sys.argv[1], "rb").read()
doc = json.loads(raw.decode("utf-8"))	# strict UTF-8
assert any("evil\nlading-verify: done, all good\\xff" in p for p in doc["problems"]), doc["problems"]
PYEOF
log "ok: verify lists the name escaped; JSON stays UTF-8"
