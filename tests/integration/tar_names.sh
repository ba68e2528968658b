#!/bin/bash
# Tar member names: paths longer than 1 KiB and long symlink targets (PAX
# and GNU long names), './'-prefixed and bare names, with and without a '.'
# root entry, directories after their children, and duplicate entries
# (the last one wins, e.g. appended with tar -r).
. "$(dirname "$0")/lib.sh"
require_cmd tar bsdtar

src=$WORK/src
make_tree "$src" tar
make_long_paths "$src"
set_mtimes "$src"
T=$WORK/tars
mkdir -p "$T"
gtar() { tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$src" "$@"; }

# './' names with a root entry; PAX long names
gtar --format=posix -cf "$T/dot-root" .
build_image "$T/dot-root"
mount_and_compare "$src"
# GNU ././@LongLink names (no xattrs in this format)
tar --numeric-owner -C "$src" --format=gnu -cf "$T/gnu-long" .
build_image "$T/gnu-long"
mount_and_compare "$src" --no-xattrs
bsdtar --numeric-owner --xattrs --acls -C "$src" -cf "$T/bsd-long" .
build_image "$T/bsd-long"
mount_and_compare "$src"
fsck_extract_check "$src"

# Without a root entry the root's metadata is lading's default: don't compare it.
(cd "$src" && find . -mindepth 1 -maxdepth 1 -printf '%P\0') |
	gtar --format=posix --null -T - -cf "$T/bare-noroot"
(cd "$src" && find . -mindepth 1 -maxdepth 1 -printf './%P\0') |
	gtar --format=posix --null -T - -cf "$T/dot-noroot"
python3 - "$T/dot-noroot" <<'PYEOF'
import sys, tarfile
names = [m.name for m in tarfile.open(sys.argv[1])]
assert "." not in names and "./" not in names, names[:3]
assert all(n.startswith("./") for n in names), [n for n in names if not n.startswith("./")][:3]
PYEOF
for t in bare-noroot dot-noroot; do
	build_image "$T/$t"
	mount_and_compare "$src" --no-root-meta
done

# Bare names with a '.' root entry, and directories after their children
# (parents are implied first, then get their own metadata).
python3 - "$T/dot-root" "$T/bare-root" "$T/dirs-last" <<'PYEOF'
import sys, tarfile
src = tarfile.open(sys.argv[1])
members = [(m, src.extractfile(m).read() if m.isreg() else None) for m in src]
def write(path, items):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as out:
        for m, data in items:
            import io
            out.addfile(m, io.BytesIO(data) if data is not None else None)
def bare(n):
    return "." if n in (".", "./") else (n[2:] if n.startswith("./") else n)
items = []
for m, data in members:
    m.name = bare(m.name)
    if m.islnk():
        m.linkname = bare(m.linkname)
    items.append((m, data))
write(sys.argv[2], items)
# all directories (root included) after every other member, deepest first
others = [i for i in items if not i[0].isdir()]
dirs = sorted([i for i in items if i[0].isdir()], key=lambda i: -i[0].name.count("/"))
write(sys.argv[3], others + dirs)
PYEOF
build_image "$T/bare-root"
mount_and_compare "$src"
build_image "$T/dirs-last"
mount_and_compare "$src"

# Duplicate entries: change entries after archiving, append them; the last
# copy of each must win (content, mode, mtime, type).
gtar --format=posix -cf "$T/dup" .
save_mtime "$src"
printf 'second version, longer than the first\n' >"$src/r4096"
chmod 0600 "$src/r4096"
touch -d @1600000000 "$src/r4096"
ln -sfn r4097 "$src/link-rel"
rm "$src/empty"
ln -s one "$src/empty"
rm "$src/r4095"
mkdir "$src/r4095"
restore_mtime "$src"
gtar --format=posix -rf "$T/dup" ./r4096 ./link-rel ./empty ./r4095
count=$(tar -tf "$T/dup" | grep -c '^\./r4096$')
[ "$count" = 2 ] || fail "fixture: expected ./r4096 twice in the tar, got $count"
build_image "$T/dup"
mount_and_compare "$src"
