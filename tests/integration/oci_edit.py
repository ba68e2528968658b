#!/usr/bin/env python3
"""Derives a tag of an OCI layout from another, changing its last layer or
its config, for the convert tests of layer writers and lenient inputs.

usage: oci_edit.py LAYOUT SRC_REF DST_REF OP [ARG...]
OPs (the last layer's tar is read from its blob, gzip, zstd or plain):
  compress MEDIATYPE CMD...  the blob becomes CMD's output for the tar
                             (e.g. +gzip pigz -c; +zstd zstd -q -T0 -c)
  concat gzip|zstd N         the tar in N pieces, each compressed on its
                             own, concatenated (multi-member / -frame)
  label MEDIATYPE            the plain tar under that media type
  append HEXBYTES            the blob as it is, then these bytes
  diff-id SHA256HEX          the config's last rootfs.diff_ids entry
  drop-diff-id               the config's last rootfs.diff_ids entry goes
"""
import gzip
import hashlib
import json
import os
import subprocess
import sys

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def blob_path(layout, digest):
    return os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])


def put(layout, data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return "sha256:" + h, len(data)


def untar_blob(data):
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-q", "-d", "-c"], input=data,
                              stdout=subprocess.PIPE, check=True).stdout
    return data


def compress(kind, data):
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    return subprocess.run(["zstd", "-q", "-c"], input=data,
                          stdout=subprocess.PIPE, check=True).stdout


def main():
    layout, src, dst, op, args = (sys.argv[1], sys.argv[2], sys.argv[3],
                                  sys.argv[4], sys.argv[5:])
    idx_path = os.path.join(layout, "index.json")
    idx = json.load(open(idx_path))
    desc = [m for m in idx["manifests"]
            if m.get("annotations", {}).get(
                "org.opencontainers.image.ref.name") == src][0]
    man = json.load(open(blob_path(layout, desc["digest"])))
    cfg = json.load(open(blob_path(layout, man["config"]["digest"])))
    layer = man["layers"][-1]
    blob = open(blob_path(layout, layer["digest"]), "rb").read()
    mt, data = layer["mediaType"], None
    if op == "compress":
        mt = args[0]
        data = subprocess.run(args[1:], input=untar_blob(blob),
                              stdout=subprocess.PIPE, check=True).stdout
    elif op == "concat":
        tar, n = untar_blob(blob), int(args[1])
        step = -(-len(tar) // n)
        data = b"".join(compress(args[0], tar[i:i + step])
                        for i in range(0, len(tar), step))
        mt = "application/vnd.oci.image.layer.v1.tar+" + args[0]
    elif op == "label":
        mt, data = args[0], untar_blob(blob)
    elif op == "append":
        data = blob + bytes.fromhex(args[0])
    elif op == "diff-id":
        cfg["rootfs"]["diff_ids"][-1] = "sha256:" + args[0]
    elif op == "drop-diff-id":
        cfg["rootfs"]["diff_ids"].pop()
    else:
        sys.exit("oci_edit.py: unknown op " + op)
    if data is not None:
        dg, size = put(layout, data)
        man["layers"][-1] = {"mediaType": mt, "digest": dg, "size": size}
    cdg, csize = put(layout, json.dumps(cfg, sort_keys=True).encode())
    man["config"] = dict(man["config"], digest=cdg, size=csize)
    mdg, msize = put(layout, json.dumps(man, sort_keys=True).encode())
    idx["manifests"] = [m for m in idx["manifests"]
                        if m.get("annotations", {}).get(
                            "org.opencontainers.image.ref.name") != dst]
    idx["manifests"].append({
        "mediaType": OCI_MANIFEST, "digest": mdg, "size": msize,
        "annotations": {"org.opencontainers.image.ref.name": dst}})
    with open(idx_path, "w") as f:
        json.dump(idx, f)


main()
