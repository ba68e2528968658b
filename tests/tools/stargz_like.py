#!/usr/bin/env python3
"""stargz_like.py TAR OUT: writes TAR as an eStargz-shaped gzip stream
(the layout only, for the seek index tests): one gzip member per tar
entry (header and data split at 512-byte boundaries, as eStargz starts a
member at each file's payload), then an empty last member whose FEXTRA
carries eStargz's footer subfield ("SG", "%016xSTARGZ" with the offset
of the last data member).  Many members, empty ones, FEXTRA."""
import struct, sys, zlib

data = open(sys.argv[1], "rb").read()
out = bytearray()


def member(payload, extra=b""):
    flg = 0x04 if extra else 0
    hdr = b"\x1f\x8b\x08" + bytes([flg]) + b"\0\0\0\0" + b"\0\xff"
    if extra:
        hdr += struct.pack("<H", len(extra)) + extra
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = c.compress(payload) + c.flush()
    return hdr + body + struct.pack("<II", zlib.crc32(payload), len(payload) & 0xffffffff)


off = 0
cuts = []
while off + 512 <= len(data):
    hdr = data[off:off + 512]
    if hdr == b"\0" * 512:
        break
    size = int(hdr[124:136].split(b"\0")[0].strip() or b"0", 8)
    cuts.append(off)                 # the header block(s)
    cuts.append(off + 512)           # the payload
    off += 512 + (size + 511) // 512 * 512
cuts.append(off)
cuts = sorted(set(c for c in cuts if c <= len(data))) + [len(data)]
last = 0
for a, b in zip(cuts, cuts[1:]):
    last = len(out)
    out += member(data[a:b])         # empty when a == b
footer = b"SG" + struct.pack("<H", 22) + (b"%016xSTARGZ" % last)
out += member(b"", footer)
open(sys.argv[2], "wb").write(out)
