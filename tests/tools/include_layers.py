#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that liblading's modules include only modules below them.

Usage: include_layers.py LIBDIR [--graph]

A file belongs to the module of its directory (lib/format/reader.c:
format); a header lib/include/lading/NAME.h (installed) or
lib/private/lading/NAME.h to module NAME (common.h: util; see ALIAS).
An installed header includes only installed headers.  Every #include of another module's header is an arrow,
and every arrow must point to a module of a lower layer: two modules of
one layer do not include each other, so no arrow runs back up and the
graph has no loop.  lading/ondisk.h includes no lading header at all.
--graph prints the module graph.  Exit 1 naming each arrow that breaks
the order, or a module the order does not know.
"""
import os
import re
import sys
from collections import defaultdict

# Lowest first; modules on one line are one layer.
LAYERS = [
    ["util"],
    ["ondisk"],
    ["types"],	# the plain types of the public API
    ["tree", "trace"],
    ["format", "store"],
    ["source", "fetch"],
    ["build"],	# the build options verify --source shares
    ["image"],	# image references: verify and cache resolve them
    ["verify", "cache"],
    ["convert", "fill"],
]
# headers named for something other than their module
ALIAS = {"common": "util", "convert_keep": "convert", "zran": "store", "keep": "build", "cachefiles": "cache", "fill_events": "fill",
         "build_options": "build"}
RANK = {m: i for i, layer in enumerate(LAYERS) for m in layer}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]', re.M)


def module_of(rel):
    parts = rel.split("/")
    if parts[0] in ("include", "private"):
        name = parts[-1][:-2]
        return ALIAS.get(name, name)
    return parts[0]


def main():
    libdir = sys.argv[1]
    graph = "--graph" in sys.argv[2:]
    edges = defaultdict(list)
    bad_public = []
    for d, _, names in os.walk(libdir):
        for n in sorted(names):
            if not n.endswith((".c", ".h")):
                continue
            path = os.path.join(d, n)
            rel = os.path.relpath(path, libdir)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for q, inc in INCLUDE.findall(text):
                if inc.startswith("lading/"):
                    target = module_of("include/" + inc)
                    if (rel.startswith("include/") and not os.path.exists(
                            os.path.join(libdir, "include", inc))):
                        bad_public.append(f"{rel}: an installed header "
                                          f"includes the private {inc}")
                elif q == '"' and os.path.exists(os.path.join(d, inc)):
                    target = module_of(os.path.relpath(
                        os.path.join(d, inc), libdir))
                else:
                    continue	# a system or library header
                src = module_of(rel)
                if target != src:
                    edges[(src, target)].append(rel)
    bad = list(bad_public)
    for (src, target), files in sorted(edges.items()):
        for m in (src, target):
            if m not in RANK:
                bad.append(f"module {m} is in no layer of {sys.argv[0]}")
        if src == "ondisk":
            bad.append(f"{files[0]}: lading/ondisk.h includes {target}")
        elif src in RANK and target in RANK and RANK[target] >= RANK[src]:
            bad.append(f"{', '.join(sorted(set(files)))}: {src} includes "
                       f"{target}, which is not below it")
    if graph:
        mods = sorted({s for s, _ in edges}, key=lambda m: (RANK.get(m, 99), m))
        for m in mods:
            ts = sorted({t for s, t in edges if s == m},
                        key=lambda t: (RANK.get(t, 99), t))
            print(f"{m} -> {', '.join(ts)}")
    for b in sorted(set(bad)):
        print(b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
