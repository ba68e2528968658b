#!/usr/bin/env python3
"""Writes a tar whose one file lies DEPTH directories deep.

usage: deep_tar.py DEPTH FORMAT OUT [--hardlink NAME]

FORMAT is pax or gnu (the long name as a PAX 'path' record or as a GNU
././@LongLink).  The file is d/d/.../d/deepest (DEPTH times "d/", so a
100 000-deep path is 200 KB) holding "deepest\\n"; its directories are
implicit, as nothing else lists them.  --hardlink NAME adds NAME at the top
as a hardlink to it.  Everything is owned by 0:0 with mtime 1000000000, so
the output is the same bytes on every run.
"""
import io
import sys
import tarfile

DATA = b"deepest\n"


def main():
    args = sys.argv[1:]
    if len(args) not in (3, 5) or (len(args) == 5 and args[3] != "--hardlink"):
        sys.exit(__doc__)
    depth, fmt, out = int(args[0]), args[1], args[2]
    link = args[4] if len(args) == 5 else None
    formats = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT}
    if fmt not in formats or depth < 0:
        sys.exit(__doc__)
    path = "d/" * depth + "deepest"
    with tarfile.open(out, "w", format=formats[fmt]) as tar:
        ti = tarfile.TarInfo(path)
        ti.size = len(DATA)
        ti.mode = 0o644
        ti.mtime = 1000000000
        tar.addfile(ti, io.BytesIO(DATA))
        if link:
            li = tarfile.TarInfo(link)
            li.type = tarfile.LNKTYPE
            li.linkname = path
            li.mode = 0o644
            li.mtime = 1000000000
            tar.addfile(li)


if __name__ == "__main__":
    main()
