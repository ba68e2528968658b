#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that liblading.so exports exactly its public API.

Usage: check_exports.py LIBLADING_SO INCLUDEDIR BUILDDIR

The public API is every function declared LADING_API in INCLUDEDIR's
headers.  The shared library must export all of them and nothing else
(no erofs_* names that would clash with liberofs), and the tools (the
objects under BUILDDIR's tools, mkimage, verify, prepare, convert and fill)
must call nothing else of liblading.  Exit 1 naming each difference.
"""
import glob
import os
import re
import subprocess
import sys

TOOL_DIRS = ["tools", "mkimage", "verify", "prepare", "convert", "fill"]


def nm(args):
    out = subprocess.run(["nm"] + args, check=True, capture_output=True,
                         text=True).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


def declared(incdir):
    names = set()
    for path in sorted(glob.glob(os.path.join(incdir, "lading", "*.h"))):
        with open(path, encoding="utf-8") as f:
            text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
        names |= set(re.findall(r"^LADING_API\b[^;(]*?\b(lading_\w+)\s*\(",
                                text, flags=re.M))
    return names


def main():
    so, incdir, builddir = sys.argv[1:4]
    api = declared(incdir)
    exported = {f[2] for f in nm(["-D", "--defined-only", so])
                if len(f) == 3 and f[1] in "TtWiDdBbRrVv"
                and not f[2].startswith("_")}
    used = set()
    for d in TOOL_DIRS:
        objs = glob.glob(os.path.join(builddir, d, "**", "*.o"), recursive=True)
        if objs:
            used |= {f[1] for f in nm(["-u"] + objs)
                     if len(f) == 2 and re.match(r"(lading|erofs)_", f[1])}
    bad = [f"exported but not public: {s}" for s in sorted(exported - api)]
    bad += [f"public but not exported: {s}" for s in sorted(api - exported)]
    bad += [f"a tool calls the private {s}" for s in sorted(used - api)]
    if not used:
        bad.append(f"no tool objects found under {builddir}")
    for b in bad:
        print(b, file=sys.stderr)
    print(f"{len(api)} public functions, {len(exported)} exported, "
          f"{len(used)} used by the tools")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
