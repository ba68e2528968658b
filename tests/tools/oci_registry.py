#!/usr/bin/env python3
"""A tiny in-memory OCI distribution registry with the OCI 1.1 referrers
API, for the publisher tests (Debian's docker-registry 2.8 has no such
API).  usage: oci_registry.py PORT LAYOUT MODE LOG
PORT 0: a free port, printed on standard output once listening.

LAYOUT: an OCI image layout whose blobs and manifests the registry starts
with (the index's ref names become tags; every repository name sees the
same content).  LOG: one line per request, "METHOD PATH STATUS".

MODE: referrers (GET /v2/<r>/referrers/<digest> answers an index of the
manifests whose subject is <digest>, and a manifest PUT with a subject
answers OCI-Subject) | referrers-noheader (the API, no OCI-Subject
header) | none (no API: 404, as docker-registry 2.8) | deny-tags (no API,
and every PUT of a sha256-* tag is refused with 403, as a registry with
immutable or reserved tags would)
"""
import hashlib
import http.server
import json
import os
import sys
import threading
import urllib.parse

port, layout, mode, logpath = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
blobs = {}        # digest -> bytes
manifests = {}    # digest -> (media type, bytes)
tags = {}         # tag -> digest
uploads = {}      # upload id -> bytearray
lock = threading.Lock()
INDEX = "application/vnd.oci.image.index.v1+json"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


bdir = os.path.join(layout, "blobs", "sha256")
for name in os.listdir(bdir):
    with open(os.path.join(bdir, name), "rb") as f:
        blobs["sha256:" + name] = f.read()
with open(os.path.join(layout, "index.json")) as f:
    for d in json.load(f)["manifests"]:
        todo = [d]
        while todo:
            x = todo.pop()
            body = blobs[x["digest"]]
            manifests[x["digest"]] = (x["mediaType"], body)
            todo += json.loads(body).get("manifests", [])
        name = d.get("annotations", {}).get("org.opencontainers.image.ref.name")
        if name:
            tags[name] = d["digest"]


def referrers(subject, want_type):
    out = []
    for dg, (mt, body) in sorted(manifests.items()):
        m = json.loads(body)
        if m.get("subject", {}).get("digest") != subject:
            continue
        at = m.get("artifactType") or m.get("config", {}).get("mediaType")
        if want_type and at != want_type:
            continue
        d = {"mediaType": mt, "digest": dg, "size": len(body), "artifactType": at}
        if m.get("annotations"):
            d["annotations"] = m["annotations"]
        out.append(d)
    return json.dumps({"schemaVersion": 2, "mediaType": INDEX,
                       "manifests": out}).encode()


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body=b"", headers=(), head=False):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
        with open(logpath, "a") as f:
            f.write("%s %s %d\n" % (self.command, self.path, code))

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def parts(self):
        u = urllib.parse.urlsplit(self.path)
        p = u.path
        q = urllib.parse.parse_qs(u.query)
        for kind in ("/manifests/", "/blobs/uploads/", "/blobs/", "/referrers/"):
            if kind in p:
                repo, ref = p[4:].split(kind, 1)
                return kind.strip("/"), repo, ref, q
        return None, None, None, q

    def get_common(self, head):
        kind, _, ref, q = self.parts()
        if self.path == "/v2/" or self.path == "/v2":
            return self.send(200, b"{}", head=head)
        with lock:
            if kind == "manifests":
                dg = tags.get(ref, ref)
                if dg not in manifests:
                    return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', head=head)
                mt, body = manifests[dg]
                return self.send(200, body, [("Content-Type", mt),
                                             ("Docker-Content-Digest", dg)], head)
            if kind == "blobs":
                if ref not in blobs:
                    return self.send(404, head=head)
                return self.send(200, blobs[ref], [("Docker-Content-Digest", ref)], head)
            if kind == "referrers" and mode.startswith("referrers"):
                want = q.get("artifactType", [None])[0]
                return self.send(200, referrers(ref, want), [("Content-Type", INDEX)], head)
        self.send(404, b"404 page not found\n", head=head)

    def do_GET(self):
        self.get_common(False)

    def do_HEAD(self):
        self.get_common(True)

    def do_POST(self):
        kind, repo, _, _ = self.parts()
        self.body()
        if kind != "blobs/uploads":
            return self.send(404)
        with lock:
            uid = str(len(uploads) + 1)
            uploads[uid] = bytearray()
        self.send(202, headers=[("Location", "/v2/%s/blobs/uploads/%s" % (repo, uid))])

    def do_PATCH(self):
        kind, repo, ref, _ = self.parts()
        data = self.body()
        with lock:
            if kind != "blobs/uploads" or ref not in uploads:
                return self.send(404)
            uploads[ref] += data
            n = len(uploads[ref])
        self.send(202, headers=[("Location", "/v2/%s/blobs/uploads/%s" % (repo, ref)),
                                ("Range", "0-%d" % (n - 1))])

    def do_PUT(self):
        kind, repo, ref, q = self.parts()
        data = self.body()
        with lock:
            if kind == "blobs/uploads":
                if ref not in uploads:
                    return self.send(404)
                data = bytes(uploads.pop(ref)) + data
                dg = q.get("digest", [""])[0]
                if sha(data) != dg:
                    return self.send(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
                blobs[dg] = data
                return self.send(201, headers=[("Docker-Content-Digest", dg)])
            if kind != "manifests":
                return self.send(404)
            if mode == "deny-tags" and ref.startswith("sha256-"):
                return self.send(403, b'{"errors":[{"code":"DENIED"}]}')
            dg = sha(data)
            if ref.startswith("sha256:") and ref != dg:
                return self.send(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
            m = json.loads(data)
            for d in [m.get("config")] + m.get("layers", []):
                if d and d["digest"] not in blobs:
                    return self.send(400, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
            for d in m.get("manifests", []):
                if d["digest"] not in manifests:
                    return self.send(400, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            manifests[dg] = (self.headers.get("Content-Type"), data)
            if not ref.startswith("sha256:"):
                tags[ref] = dg
            hdrs = [("Docker-Content-Digest", dg),
                    ("Location", "/v2/%s/manifests/%s" % (repo, dg))]
            if mode == "referrers" and "subject" in m:
                hdrs.append(("OCI-Subject", m["subject"]["digest"]))
        self.send(201, headers=hdrs)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
