#!/usr/bin/env python3
"""flip_bytes.py FILE OFFSET [COUNT]: inverts COUNT (default 1) bytes of
FILE in place from OFFSET, so they always change (writing a constant
would leave a byte that already held it intact)."""
import sys

path, off = sys.argv[1], int(sys.argv[2])
count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
with open(path, "r+b") as f:
    f.seek(off)
    data = f.read(count)
    if len(data) != count:
        sys.exit(f"{path}: fewer than {count} bytes at {off}")
    f.seek(off)
    f.write(bytes(b ^ 0xFF for b in data))
