#!/usr/bin/env python3
"""Attaches a lading manifest to an ordinary image inside one OCI layout,
as issue #13's contract says, for the node tests.

usage: oci_attach.py LAYOUT SUBJECT_REF LADING_REF attach [--created T]
                     [--subject D] [--salt S]
         a copy of LADING_REF's manifest with artifactType, subject and the
         created annotation (and an io.lading.test-salt annotation S, to
         make distinct manifests) joins the tag-schema index that
         index.json names sha256-<hex of the subject>; prints its digest
       oci_attach.py LAYOUT SUBJECT_REF LADING_REF merge NAME [--created T]
         the same manifest beside the original in an image index named NAME
         (platform of the host, os.features lading.v1)
"""
import hashlib
import json
import os
import platform
import sys

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ARTIFACT = "application/vnd.lading.image.v1"
REF_NAME = "org.opencontainers.image.ref.name"


def blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest[7:]), "rb") as f:
        return f.read()


def put(layout, data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", d[7:]), "wb") as f:
        f.write(data)
    return d


def named(index, name):
    for d in index["manifests"]:
        if d.get("annotations", {}).get(REF_NAME) == name:
            return d
    raise SystemExit("no image named " + name)


def host_platform():
    m = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)
    return {"os": "linux", "architecture": arch}


def main():
    layout, subject_ref, lading_ref, cmd = sys.argv[1:5]
    rest = sys.argv[5:]
    name = rest.pop(0) if cmd == "merge" else None
    opts = {"--created": "2026-01-01T00:00:00Z", "--subject": None, "--salt": None}
    while rest:
        opts[rest[0]] = rest[1]
        rest = rest[2:]
    ipath = os.path.join(layout, "index.json")
    index = json.load(open(ipath))
    sdesc = dict(named(index, subject_ref))
    sdesc.pop("annotations", None)
    sdesc.pop("platform", None)
    man = json.loads(blob(layout, named(index, lading_ref)["digest"]))
    man["artifactType"] = ARTIFACT
    man["subject"] = dict(sdesc)
    if opts["--subject"]:
        man["subject"]["digest"] = opts["--subject"]
    ann = man.setdefault("annotations", {})
    ann["org.opencontainers.image.created"] = opts["--created"]
    if opts["--salt"]:
        ann["io.lading.test-salt"] = opts["--salt"]
    body = json.dumps(man, sort_keys=True).encode()
    desc = {"mediaType": OCI_MANIFEST, "digest": put(layout, body),
            "size": len(body), "artifactType": ARTIFACT, "annotations": ann}
    if cmd == "attach":
        tag = "sha256-" + sdesc["digest"][7:]
        try:
            old = named(index, tag)
            idx = json.loads(blob(layout, old["digest"]))
            index["manifests"].remove(old)
        except SystemExit:
            idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        idx["manifests"] = [m for m in idx["manifests"]
                            if m["digest"] != desc["digest"]] + [desc]
        new_name = tag
    else:
        orig = dict(sdesc, platform=host_platform())
        alt = dict(desc, platform=dict(host_platform(),
                                       **{"os.features": ["lading.v1"]}))
        idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [orig, alt]}
        new_name = name
    ibody = json.dumps(idx).encode()
    index["manifests"].append({"mediaType": OCI_INDEX, "digest": put(layout, ibody),
                               "size": len(ibody),
                               "annotations": {REF_NAME: new_name}})
    with open(ipath + ".tmp", "w") as f:
        json.dump(index, f)
    os.rename(ipath + ".tmp", ipath)
    print(desc["digest"])


if __name__ == "__main__":
    main()
