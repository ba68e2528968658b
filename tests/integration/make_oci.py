#!/usr/bin/env python3
"""Writes an OCI image layout from layer tarballs, for convert tests.

usage: make_oci.py LAYOUT REF [--compress gzip|zstd|none] LAYER.tar...
The config carries a runtime config (Env, Cmd, WorkingDir, Labels) and
the layers' diff_ids, as image builders write them.
"""
import gzip
import hashlib
import json
import os
import subprocess
import sys


def put(layout, data):
    d = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)


def main():
    args = sys.argv[1:]
    layout, ref = args[0], args[1]
    comp = "gzip"
    if args[2] == "--compress":
        comp = args[3]
        args = args[4:]
    else:
        args = args[2:]
    os.makedirs(layout, exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    layers, diff_ids = [], []
    for path in args:
        raw = open(path, "rb").read()
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        if comp == "gzip":
            data = gzip.compress(raw, mtime=0)
            mt = "application/vnd.oci.image.layer.v1.tar+gzip"
        elif comp == "zstd":
            data = subprocess.run(["zstd", "-q", "-c"], input=raw,
                                  stdout=subprocess.PIPE, check=True).stdout
            mt = "application/vnd.oci.image.layer.v1.tar+zstd"
        else:
            data = raw
            mt = "application/vnd.oci.image.layer.v1.tar"
        dg, size = put(layout, data)
        layers.append({"mediaType": mt, "digest": dg, "size": size})
    config = {
        "architecture": "amd64", "os": "linux",
        "created": "2020-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin:/bin", "LADING=1"],
                   "Cmd": ["/bin/sh"], "WorkingDir": "/work",
                   "Labels": {"org.example": "yes"}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "test"} for _ in args],
    }
    cdg, csize = put(layout, json.dumps(config, sort_keys=True).encode())
    manifest = {"schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": cdg, "size": csize},
                "layers": layers}
    mdg, msize = put(layout, json.dumps(manifest, sort_keys=True).encode())
    index_path = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        index = json.load(open(index_path))
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get(
                              "org.opencontainers.image.ref.name") != ref]
    index["manifests"].append({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": mdg, "size": msize,
        "annotations": {"org.opencontainers.image.ref.name": ref}})
    with open(index_path, "w") as f:
        json.dump(index, f)


main()
