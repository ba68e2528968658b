#!/usr/bin/env python3
"""bad_xattrs_tar.py OUT.tar CASE: a PAX tar of one file 'f' carrying one
xattr that an EROFS image can store but setxattr(2) refuses, so an extract
of it would fail.  CASE:
  acl-garbage   system.posix_acl_access that is not a header + entries
  acl-no-other  a version 2 ACL with user::, group:: and no other::
  cap-v1        security.capability revision 1 (12 bytes; setxattr takes
                only v2 (20 bytes) and v3 (24 bytes))
  long-name     user.<251 x 'n'>: 256 bytes, XATTR_NAME_MAX is 255
  ok            a valid ACL and a valid v2 capability set (accepted)"""
import io
import struct
import sys
import tarfile


def acl(*entries):
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


CASES = {
    "acl-garbage": {"SCHILY.xattr.system.posix_acl_access": b"garbage!"},
    "acl-no-other": {"SCHILY.xattr.system.posix_acl_access":
                     acl((1, 6, 0xFFFFFFFF), (4, 4, 0xFFFFFFFF))},
    "cap-v1": {"SCHILY.xattr.security.capability":
               struct.pack("<III", 0x01000000, 1 << 10, 0)},
    "long-name": {"SCHILY.xattr.user." + "n" * 251: b"v"},
    "ok": {"SCHILY.xattr.system.posix_acl_access":
           acl((1, 6, 0xFFFFFFFF), (2, 4, 1234), (4, 4, 0xFFFFFFFF),
               (0x10, 4, 0xFFFFFFFF), (0x20, 4, 0xFFFFFFFF)),
           "SCHILY.xattr.security.capability":
           struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)},
}

out, case = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    ti = tarfile.TarInfo("f")
    data = b"data\n"
    ti.size = len(data)
    ti.mode = 0o644
    ti.mtime = 1600000000
    # PAX values are UTF-8 strings: bytes go through surrogateescape
    ti.pax_headers = {k: v.decode("utf-8", "surrogateescape")
                      for k, v in CASES[case].items()}
    t.addfile(ti, io.BytesIO(data))
