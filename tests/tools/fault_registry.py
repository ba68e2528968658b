#!/usr/bin/env python3
"""A tiny registry that misbehaves on purpose, for the registry client's
fault tests.  usage: fault_registry.py PORT BLOBFILE|LAYOUT MODE
PORT 0: a free port, printed on standard output once listening.

BLOBFILE: one blob, served at /v2/<any repo>/blobs/sha256:<its digest>
and at /mirror/<hex digest> (an http:// blob base URL).
LAYOUT: an OCI image layout directory: its manifests are served by tag
(the index's ref names) and by digest, and all its blobs; the fault
applies to layer blobs only (and to the blob of BLOBFILE).

MODE: ok | fail-twice (two 500s, then fine) | retry-after (429 with
Retry-After: 1 once) | drop (cuts the first response in the middle) |
no-range (ignores Range, answers 200 with everything) | corrupt (flips
one byte) | bearer (asks for a token from /token first) | redirect (bearer,
then a 307 to "object storage" on localhost, which refuses any request that
still carries credentials) | endless (no Content-Length; the blob, then
zeros for ever) | trickle (2 bytes a second) | short (every answer
announces its full length, sends half of it and closes the connection)
"""
import hashlib
import http.server
import json
import os
import sys
import time

port, path, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
blobs = {}        # digest -> path
faulty = set()    # digests the mode applies to
manifests = {}    # tag or digest -> (media type, bytes)


def digest_of(p):
    with open(p, "rb") as f:
        return "sha256:" + hashlib.sha256(f.read()).hexdigest()


if os.path.isdir(path):
    bdir = os.path.join(path, "blobs", "sha256")
    for name in os.listdir(bdir):
        blobs["sha256:" + name] = os.path.join(bdir, name)
    with open(os.path.join(path, "index.json")) as f:
        index = json.load(f)
    for d in index["manifests"]:
        with open(blobs[d["digest"]], "rb") as f:
            body = f.read()
        mt = d.get("mediaType", "application/vnd.oci.image.manifest.v1+json")
        manifests[d["digest"]] = (mt, body)
        name = d.get("annotations", {}).get("org.opencontainers.image.ref.name")
        if name:
            manifests[name] = (mt, body)
        for l in json.loads(body).get("layers", []):
            faulty.add(l["digest"])
else:
    blobs[digest_of(path)] = path
    faulty = set(blobs)
state = {"n": 0}


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def blob(self):
        # a registry path, or a plain mirror of a blob directory
        p = self.path
        if "/blobs/" in p:
            return p.rsplit("/blobs/", 1)[1]
        if p.startswith("/mirror/"):
            return "sha256:" + p[8:]
        return None

    def manifest(self):
        if "/manifests/" in self.path:
            return manifests.get(self.path.rsplit("/manifests/", 1)[1])
        return None

    def do_HEAD(self):
        dg = self.blob()
        found = dg in blobs
        self.send_response(200 if found else 404)
        self.send_header("Content-Length",
                         str(os.path.getsize(blobs[dg])) if found else "0")
        if found:
            self.send_header("Docker-Content-Digest", dg)
        self.end_headers()

    def write_body(self, body):
        if mode == "trickle":
            for i in range(0, len(body), 2):
                self.wfile.write(body[i:i + 2])
                self.wfile.flush()
                time.sleep(1)
            return
        if mode == "short":
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/objects/"):
            if self.headers.get("Authorization"):
                return self.send(403, b"credentials leaked to another host")
            return self.send(200, open(blobs[sorted(faulty)[0]], "rb").read())
        if self.path.startswith("/token"):
            return self.send(200, b'{"token": "t0k3n", "expires_in": 300}',
                             [("Content-Type", "application/json")])
        m = self.manifest()
        if m:
            return self.send(200, m[1], [("Content-Type", m[0])])
        dg = self.blob()
        if dg not in blobs:
            return self.send(404, b"{}")
        data = open(blobs[dg], "rb").read()
        if dg not in faulty:
            return self.send(200, data)
        state["n"] += 1
        n = state["n"]
        if mode in ("bearer", "redirect") and self.headers.get("Authorization") != "Bearer t0k3n":
            return self.send(401, b"{}", [("WWW-Authenticate",
                'Bearer realm="http://127.0.0.1:%d/token",service="test",scope="repository:x:pull"' % port)])
        if mode == "redirect":
            return self.send(307, b"", [("Location",
                "http://localhost:%d/objects/blob" % port)])
        if mode == "fail-twice" and n <= 2:
            return self.send(500, b"busy")
        if mode == "retry-after" and n == 1:
            return self.send(429, b"slow down", [("Retry-After", "1")])
        if mode == "endless":
            # the layer, then more bytes than any descriptor promised
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(data)
                while True:
                    self.wfile.write(bytes(65536))
            except (BrokenPipeError, ConnectionResetError):
                return
        body = data
        if mode == "corrupt":
            body = bytearray(data)
            body[len(body) // 2] ^= 1
            body = bytes(body)
        rng = self.headers.get("Range")
        try:
            if rng and mode != "no-range":
                a, b = rng.split("=")[1].split("-")
                a = int(a)
                b = int(b) if b else len(body) - 1
                part = body[a:b + 1]
                self.send_response(206)
                self.send_header("Content-Range", "bytes %d-%d/%d" % (a, b, len(body)))
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                self.write_body(part)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if mode == "drop" and n == 1:
                self.wfile.write(body[:len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.write_body(body)
        except (BrokenPipeError, ConnectionResetError):
            return


http.server.ThreadingHTTPServer.daemon_threads = True
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
port = srv.server_address[1]
print(port, flush=True)
srv.serve_forever()
