#!/usr/bin/env python3
"""Hand-made layer tarballs for the exact layer semantics (whiteouts,
opaque directories listed after their siblings, type changes, hardlinks to
lower layers, a tar without end-of-archive blocks).  usage: DIR"""
import io
import os
import sys
import tarfile

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def add(t, name, kind="f", data=b"", mode=0o644, link=None, uid=0, mtime=1600000000):
    ti = tarfile.TarInfo(name)
    ti.mtime = mtime
    ti.uid = uid
    ti.gid = uid
    ti.mode = mode
    if kind == "d":
        ti.type = tarfile.DIRTYPE
        ti.mode = mode if mode != 0o644 else 0o755
        t.addfile(ti)
    elif kind == "l":
        ti.type = tarfile.SYMTYPE
        ti.linkname = link
        t.addfile(ti)
    elif kind == "h":
        ti.type = tarfile.LNKTYPE
        ti.linkname = link
        t.addfile(ti)
    else:
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))


def layer(name, entries, eof_blocks=True):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            add(t, *e[:2], **(e[2] if len(e) > 2 else {}))
    data = buf.getvalue()
    if not eof_blocks:
        data = data.rstrip(b"\0")
        data += b"\0" * (-len(data) % 512)   # whole records, no EOF blocks
    open(os.path.join(out, name), "wb").write(data)


big = bytes(range(256)) * 4096       # 1 MiB, for dedup
layer("l1.tar", [
    ("x", "d"), ("x/a", "f", {"data": b"a"}), ("x/b", "f", {"data": b"b"}),
    ("x/sub", "d"), ("x/sub/deep", "f", {"data": b"deep"}),
    ("y", "d"), ("y/f", "f", {"data": b"f"}), ("y/g", "f", {"data": b"g"}),
    ("z", "f", {"data": b"z-file"}), ("w", "d"), ("w/k", "f", {"data": b"k"}),
    ("meta", "f", {"data": b"meta", "mode": 0o600}),
    ("lower", "f", {"data": big}),
    ("lnk", "l", {"link": "lower"}),
])
layer("l2.tar", [
    ("x", "d", {"mode": 0o750}),
    ("x/c", "f", {"data": b"c"}),            # this layer, before the marker
    ("x/.wh..wh..opq", "f"),                 # hides a, b, sub from l1
    ("x/d", "f", {"data": b"d"}),
    ("y/.wh.f", "f"),                        # removes y/f
    ("z", "d"), ("z/n", "f", {"data": b"n"}),   # file -> directory
    ("w", "f", {"data": b"w-file"}),         # directory -> file
    ("meta", "f", {"data": b"meta", "mode": 0o640, "uid": 1234}),
    ("hl", "h", {"link": "lower"}),          # hardlink to a lower-layer file
    ("copy", "f", {"data": big}),            # deduplicated against l1
], eof_blocks=False)
layer("l3.tar", [
    (".wh.lnk", "f"),
    ("y", "d"), ("y/.wh..wh..opq", "f"),     # y empties (g goes too)
    ("y/new", "f", {"data": b"new"}),
])
# a member cut short: must be an error
data = open(os.path.join(out, "l1.tar"), "rb").read()
open(os.path.join(out, "short.tar"), "wb").write(data[:len(data) // 2])
