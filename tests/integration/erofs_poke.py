#!/usr/bin/env python3
"""Finds EROFS structures in a lading bootstrap and corrupts one on purpose.

usage: erofs_poke.py IMAGE WHAT [PATH] [ARGS]
  WHAT: sb-byte | inode-format | dirent-nameoff | chunk-device | chunk-addr
        | dirent-order | data-offset | file-size | owner | fixed-nsec
        | no-blob-table
  'data-offset' prints the blob offset of PATH's first chunk (no change).
  'file-size PATH SIZE [BLKBITS]' sets the i_size of PATH's extended inode
  (and the chunk size to 4 KiB << BLKBITS), keeping its chunk indexes.
  'no-blob-table - BLOBDIR' removes lading's blob table (its magic) and
  cuts each blob in BLOBDIR to its uncompressed view (renamed and retagged
  by its new sha256, printed): a plain EROFS image, blobs without a ToC.
  'owner PATH UID' sets the i_uid of PATH's extended inode.
  'fixed-nsec - NSEC' sets the superblock's build_time_nsec (fixed_nsec),
  the nanoseconds of every compact inode's mtime.
Every change recomputes the superblock CRC32C, so the corruption is found
by the structural checks, not by the checksum.
"""
import hashlib
import os
import struct
import sys

BLK = 4096


def crc32c(data, crc=0xFFFFFFFF):
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc


def fix_crc(img):
    img[1028:1032] = b"\0\0\0\0"
    struct.pack_into("<I", img, 1028, crc32c(bytes(img[1024:BLK])))


def sb(img):
    meta = struct.unpack_from("<I", img, 1024 + 40)[0]
    root = struct.unpack_from("<H", img, 1024 + 14)[0]
    return meta * BLK, root


def inode(img, meta, nid):
    pos = meta + nid * 32
    fmt, icount, mode = struct.unpack_from("<HHH", img, pos)
    ext = fmt & 1
    if ext:
        size, i_u = struct.unpack_from("<QI", img, pos + 8)
        isize = 64
    else:
        size, _, i_u = struct.unpack_from("<III", img, pos + 8)
        isize = 32
    xsize = 12 + (icount - 1) * 4 if icount else 0
    return dict(pos=pos, fmt=fmt, mode=mode, size=size, i_u=i_u,
                isize=isize, xsize=xsize, layout=(fmt >> 1) & 7)


def dir_data_pos(ino):
    assert ino["layout"] == 2 and ino["size"] < BLK, "want a small inline dir"
    return ino["pos"] + ino["isize"] + ino["xsize"]


def lookup(img, meta, root, path):
    nid = root
    for name in [p for p in path.split("/") if p]:
        ino = inode(img, meta, nid)
        base = dir_data_pos(ino)
        count = struct.unpack_from("<H", img, base + 8)[0] // 12
        found = None
        for i in range(count):
            d_nid, off = struct.unpack_from("<QH", img, base + 12 * i)
            end = (struct.unpack_from("<H", img, base + 12 * (i + 1) + 8)[0]
                   if i + 1 < count else ino["size"])
            n = bytes(img[base + off: base + end]).rstrip(b"\0").decode()
            if n == name:
                found = d_nid
        assert found is not None, name
        nid = found
    return nid


def main():
    image, what = sys.argv[1], sys.argv[2]
    path = sys.argv[3] if len(sys.argv) > 3 else ""
    img = bytearray(open(image, "rb").read())
    meta, root = sb(img)
    r = inode(img, meta, root)
    if what == "sb-byte":
        img[1024 + 36] ^= 0x10          # blocks: caught by the CRC
        open(image, "wb").write(img)
        return
    if what == "no-blob-table":
        slotoff, = struct.unpack_from("<H", img, 1024 + 88)
        ndev, = struct.unpack_from("<H", img, 1024 + 86)
        at = (slotoff + ndev) * 128
        assert bytes(img[at:at + 8]) == b"LLDGBLT1", "no blob table"
        img[at:at + 8] = b"\0" * 8
        # each blob becomes its bare uncompressed view (blocks * 4096
        # bytes, no ToC), renamed and retagged by its new sha256
        for i in range(ndev):
            slot = (slotoff + i) * 128
            tag = bytes(img[slot:slot + 64]).decode()
            lo, = struct.unpack_from("<I", img, slot + 64)
            hi, = struct.unpack_from("<H", img, slot + 72)
            old = os.path.join(sys.argv[4], tag)
            with open(old, "r+b") as f:
                f.truncate((lo | hi << 32) * BLK)
                new = hashlib.sha256(open(old, "rb").read()).hexdigest()
            os.rename(old, os.path.join(sys.argv[4], new))
            img[slot:slot + 64] = new.encode()
            print(new)
    elif what == "fixed-nsec":
        struct.pack_into("<I", img, 1024 + 32, int(sys.argv[4]))
    elif what == "file-size":
        f = inode(img, meta, lookup(img, meta, root, path))
        assert f["isize"] == 64, "want an extended inode"
        struct.pack_into("<Q", img, f["pos"] + 8, int(sys.argv[4], 0))
        if len(sys.argv) > 5:
            i_u = (f["i_u"] & ~0x1F) | int(sys.argv[5])
            struct.pack_into("<I", img, f["pos"] + 16, i_u)
    elif what == "owner":
        f = inode(img, meta, lookup(img, meta, root, path))
        assert f["isize"] == 64, "want an extended inode"
        struct.pack_into("<I", img, f["pos"] + 24, int(sys.argv[4]))
    elif what == "inode-format":
        struct.pack_into("<H", img, r["pos"], 0x0f00)
    elif what == "dirent-nameoff":
        struct.pack_into("<H", img, dir_data_pos(r) + 8, 7)
    elif what == "dirent-order":
        base = dir_data_pos(r)
        count = struct.unpack_from("<H", img, base + 8)[0] // 12
        last_off = struct.unpack_from("<H", img, base + 12 * (count - 1) + 8)[0]
        img[base + last_off] = 0x21     # '!' sorts before '.'
    elif what in ("chunk-device", "chunk-addr", "data-offset"):
        f = inode(img, meta, lookup(img, meta, root, path))
        assert f["layout"] == 4, "want a chunk-based file"
        idx = (f["pos"] + f["isize"] + f["xsize"] + 7) // 8 * 8
        if what == "data-offset":
            print(struct.unpack_from("<I", img, idx + 4)[0] * BLK)
            return
        if what == "chunk-device":
            struct.pack_into("<H", img, idx + 2, 5)
        else:
            struct.pack_into("<I", img, idx + 4, 0x7fffffff)
    else:
        sys.exit("unknown corruption " + what)
    fix_crc(img)
    open(image, "wb").write(img)


main()
