#!/bin/bash
# Ownership and identity options: --all-root, --uid/--gid, -U/--uuid,
# -L/--label (read back from the superblock), -q.
. "$(dirname "$0")/lib.sh"

src=$WORK/src
make_tree "$src"

cp -a "$src" "$WORK/root"
chown_tree "$WORK/root" 0 0
build_image "$src" --all-root
mount_and_compare "$WORK/root"

cp -a "$src" "$WORK/owned"
chown_tree "$WORK/owned" 1000 70000
build_image "$src" --uid 1000 --gid 70000
mount_and_compare "$WORK/owned"

uuid=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
build_image "$src" -U "$uuid" -L my-label
python3 - "$IMG_BOOT" "$uuid" my-label <<'PYEOF'
import struct, sys, uuid
sb = open(sys.argv[1], "rb").read()[1024:1024 + 128]
magic, = struct.unpack_from("<I", sb, 0)
assert magic == 0xE0F5E1E2, "bad magic %#x" % magic
got = uuid.UUID(bytes=sb[48:64])
assert str(got) == sys.argv[2], "uuid %s, want %s" % (got, sys.argv[2])
name = sb[64:80].rstrip(b"\0").decode()
assert name == sys.argv[3], "label %r, want %r" % (name, sys.argv[3])
PYEOF
mount_and_compare "$src"
build_image "$src" --uuid "$uuid" --label x
python3 -c 'import sys; sb=open(sys.argv[1],"rb").read()[1024:1152]; assert sb[64:80].rstrip(b"\0")==b"x", sb[64:80]' "$IMG_BOOT" ||
	fail "--label not in the superblock"

# -q: quiet on success
next_seq
mkdir -p "$WORK/q.$_seq"
out=$("$LADING_MKIMAGE" -q "$WORK/q.$_seq/boot.img" "$src" 2>&1) || fail "-q build failed: $out"
[ -z "$out" ] || fail "-q printed: $out"
