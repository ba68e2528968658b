#!/usr/bin/env python3
"""Writes a tar whose one file lies DEPTH directories deep.

usage: deep_tar.py DEPTH FORMAT OUT [--hardlink NAME] [--symlink] [--xattrs]

FORMAT is pax or gnu (the long name as a PAX 'path' record or as a GNU
././@LongLink).  The file is d/d/.../d/deepest (DEPTH times "d/", so a
100 000-deep path is 200 KB) holding "deepest\\n"; its directories are
implicit, as nothing else lists them.  --hardlink NAME adds NAME at the top
as a hardlink to it; --symlink adds d/d/.../d/link, a symlink to "deepest";
--xattrs (pax only) gives the file user.deep=1 and the symlink
trusted.deep=2.
Everything is owned by 0:0 with mtime 1000000000, so the output is the
same bytes on every run.
"""
import io
import sys
import tarfile

DATA = b"deepest\n"


def main():
    args = sys.argv[1:]
    if len(args) < 3:
        sys.exit(__doc__)
    depth, fmt, out = int(args[0]), args[1], args[2]
    link, symlink, xattrs, rest = None, False, False, args[3:]
    while rest:
        if rest[0] == "--hardlink" and len(rest) > 1:
            link, rest = rest[1], rest[2:]
        elif rest[0] == "--symlink":
            symlink, rest = True, rest[1:]
        elif rest[0] == "--xattrs" and fmt == "pax":
            xattrs, rest = True, rest[1:]
        else:
            sys.exit(__doc__)
    formats = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT}
    if fmt not in formats or depth < 0:
        sys.exit(__doc__)
    path = "d/" * depth + "deepest"
    with tarfile.open(out, "w", format=formats[fmt]) as tar:
        ti = tarfile.TarInfo(path)
        ti.size = len(DATA)
        ti.mode = 0o644
        ti.mtime = 1000000000
        if xattrs:
            ti.pax_headers = {"SCHILY.xattr.user.deep": "1"}
        tar.addfile(ti, io.BytesIO(DATA))
        if symlink:
            si = tarfile.TarInfo("d/" * depth + "link")
            si.type = tarfile.SYMTYPE
            si.linkname = "deepest"
            si.mode = 0o777
            si.mtime = 1000000000
            if xattrs:
                si.pax_headers = {"SCHILY.xattr.trusted.deep": "2"}
            tar.addfile(si)
        if link:
            li = tarfile.TarInfo(link)
            li.type = tarfile.LNKTYPE
            li.linkname = path
            li.mode = 0o644
            li.mtime = 1000000000
            tar.addfile(li)


if __name__ == "__main__":
    main()
