#!/usr/bin/env python3
"""sparse_giant.py DIR: writes the sparse giants of the hostile-input tests
into DIR, which must be a file system taking 16 TiB files (tmpfs; ext4
stops 4 KiB short):
  giant  16 TiB + 3 bytes: 'hello' at 5 TiB + 7, 'end' as its last bytes,
         holes everywhere else (two data chunks at 64 MiB chunks)
  void   16 TiB of hole, no data at all
  small  a few bytes
Prints the allocated bytes of the giant (st_blocks * 512)."""
import os
import sys

TIB = 1 << 40
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "giant"), "wb") as f:
    f.truncate(16 * TIB + 3)
    f.seek(5 * TIB + 7)
    f.write(b"hello")
    f.seek(16 * TIB)
    f.write(b"end")
with open(os.path.join(d, "void"), "wb") as f:
    f.truncate(16 * TIB)
with open(os.path.join(d, "small"), "wb") as f:
    f.write(b"small\n")
print(os.stat(os.path.join(d, "giant")).st_blocks * 512)
