#!/usr/bin/env python3
"""A tiny registry (blob GETs only) that misbehaves on purpose, for the
registry client's fault tests.  usage: fault_registry.py PORT BLOBFILE MODE
MODE: ok | fail-twice (two 500s, then fine) | retry-after (429 with
Retry-After: 1 once) | drop (cuts the first response in the middle) |
no-range (ignores Range, answers 200 with everything) | corrupt (flips
one byte) | bearer (asks for a token from /token first) | redirect (bearer,
then a 307 to "object storage" on localhost, which refuses any request that
still carries credentials)
Serves GET and HEAD of /v2/<any repo>/blobs/sha256:<digest of BLOBFILE>,
and of /mirror/<hex digest> (an http:// blob base URL)."""
import hashlib
import http.server
import sys

port, path, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data = open(path, "rb").read()
digest = "sha256:" + hashlib.sha256(data).hexdigest()
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

    def blob_path(self):
        # a registry path, or a plain mirror of a blob directory
        return (self.path.endswith("/blobs/" + digest) or
                self.path == "/mirror/" + digest[7:])

    def do_HEAD(self):
        found = self.blob_path()
        self.send_response(200 if found else 404)
        self.send_header("Content-Length", str(len(data)) if found else "0")
        self.send_header("Docker-Content-Digest", digest)
        self.end_headers()

    def do_GET(self):
        if self.path.startswith("/objects/"):
            if self.headers.get("Authorization"):
                return self.send(403, b"credentials leaked to another host")
            return self.send(200, data)
        if self.path.startswith("/token"):
            return self.send(200, b'{"token": "t0k3n", "expires_in": 300}',
                             [("Content-Type", "application/json")])
        if not self.blob_path():
            return self.send(404, b"{}")
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
        body = data
        if mode == "corrupt":
            body = bytearray(data)
            body[len(body) // 2] ^= 1
            body = bytes(body)
        rng = self.headers.get("Range")
        if rng and mode != "no-range":
            a, b = rng.split("=")[1].split("-")
            a = int(a)
            b = int(b) if b else len(body) - 1
            part = body[a:b + 1]
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (a, b, len(body)))
            self.send_header("Content-Length", str(len(part)))
            self.end_headers()
            self.wfile.write(part)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "drop" and n == 1:
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
