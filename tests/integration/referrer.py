#!/usr/bin/env python3
"""Publishes a lading manifest as the lading form of an ordinary image on a
registry (127.0.0.1 only), the way issue #13's contract says, for the node
tests (until lading-convert --attach/--merge-index exist).

usage: referrer.py attach HOSTPORT REPO SUBJECT_TAG LADING_TAG [--subject D]
                          [--created T]
         the lading manifest (its blobs already in REPO) gets artifactType,
         subject (SUBJECT_TAG's manifest, or digest D) and a created
         annotation, is PUT by digest and added to the tag-schema index
         sha256-<hex of the subject>; prints its digest
       referrer.py merge HOSTPORT REPO SUBJECT_TAG LADING_TAG DEST_TAG
         the same manifest, not in the tag schema but in an image index
         under DEST_TAG beside the original (platform with os.features
         lading.v1)
"""
import hashlib
import json
import platform
import sys
import urllib.error
import urllib.request

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ARTIFACT = "application/vnd.lading.image.v1"
ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX,
                    "application/vnd.docker.distribution.manifest.v2+json"])


def get(base, repo, ref):
    req = urllib.request.Request("%s/v2/%s/manifests/%s" % (base, repo, ref),
                                 headers={"Accept": ACCEPT})
    with urllib.request.urlopen(req) as r:
        body = r.read()
        return body, r.headers.get("Content-Type", OCI_MANIFEST)


def put(base, repo, ref, body, mt):
    req = urllib.request.Request("%s/v2/%s/manifests/%s" % (base, repo, ref),
                                 data=body, method="PUT",
                                 headers={"Content-Type": mt})
    with urllib.request.urlopen(req) as r:
        assert r.status in (200, 201), r.status


def digest(body):
    return "sha256:" + hashlib.sha256(body).hexdigest()


def host_platform():
    m = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}.get(m, m)
    return {"os": "linux", "architecture": arch}


def attached(base, repo, subject_tag, lading_tag, subject, created):
    sbody, smt = get(base, repo, subject_tag)
    sdesc = {"mediaType": smt, "digest": digest(sbody), "size": len(sbody)}
    if subject:
        sdesc["digest"] = subject
    lbody, _ = get(base, repo, lading_tag)
    man = json.loads(lbody)
    man["artifactType"] = ARTIFACT
    man["subject"] = sdesc
    man.setdefault("annotations", {})["org.opencontainers.image.created"] = created
    body = json.dumps(man, sort_keys=True).encode()
    d = digest(body)
    put(base, repo, d, body, OCI_MANIFEST)
    desc = {"mediaType": OCI_MANIFEST, "digest": d, "size": len(body),
            "artifactType": ARTIFACT, "annotations": man["annotations"]}
    return sbody, smt, desc


def main():
    cmd, hostport, repo, subject_tag, lading_tag = sys.argv[1:6]
    rest = sys.argv[6:]
    base = "http://" + hostport
    assert hostport.startswith("127.0.0.1:"), "loopback only"
    opts = {"--subject": None, "--created": "2026-01-01T00:00:00Z"}
    args = []
    while rest:
        if rest[0] in opts:
            opts[rest[0]] = rest[1]
            rest = rest[2:]
        else:
            args.append(rest.pop(0))
    sbody, smt, desc = attached(base, repo, subject_tag, lading_tag,
                                opts["--subject"], opts["--created"])
    if cmd == "attach":
        subject = digest(sbody)
        tag = "sha256-" + subject[7:]
        try:
            idx = json.loads(get(base, repo, tag)[0])
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        idx["manifests"] = [m for m in idx["manifests"]
                            if m["digest"] != desc["digest"]] + [desc]
        put(base, repo, tag, json.dumps(idx).encode(), OCI_INDEX)
    elif cmd == "merge":
        plat = host_platform()
        orig = {"mediaType": smt, "digest": digest(sbody), "size": len(sbody),
                "platform": plat}
        alt = dict(desc)
        alt["platform"] = dict(plat, **{"os.features": ["lading.v1"]})
        idx = {"schemaVersion": 2, "mediaType": OCI_INDEX,
               "manifests": [orig, alt]}
        put(base, repo, args[0], json.dumps(idx).encode(), OCI_INDEX)
    else:
        sys.exit("unknown command " + cmd)
    print(desc["digest"])


if __name__ == "__main__":
    main()
