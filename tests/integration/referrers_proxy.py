#!/usr/bin/env python3
"""A registry with the OCI 1.1 referrers API, for the node tests: a proxy
on 127.0.0.1 in front of Debian's docker-registry (which has none).

usage: referrers_proxy.py BACKEND_PORT PORT_FILE
GET /v2/REPO/referrers/DIGEST answers the backend's tag-schema index
(sha256-<hex>) plus one descriptor of another artifactType (a node must
filter it out), or an empty index; everything else is relayed.  Writes
the port it listens on to PORT_FILE.
"""
import http.server
import json
import re
import sys
import urllib.error
import urllib.request

INDEX = "application/vnd.oci.image.index.v1+json"
BACKEND = "http://127.0.0.1:%d" % int(sys.argv[1])
OTHER = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": "sha256:" + "0" * 64, "size": 2,
         "artifactType": "application/vnd.example.signature.v1"}


class Proxy(http.server.BaseHTTPRequestHandler):
    def relay(self, method):
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() in ("accept", "range", "content-type")}
        req = urllib.request.Request(BACKEND + self.path, method=method,
                                     headers=headers)
        try:
            r = urllib.request.urlopen(req)
            status, body, rh = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, body, rh = e.code, e.read(), e.headers
        self.send_response(status)
        for k in ("Content-Type", "Docker-Content-Digest", "Content-Range"):
            if rh.get(k):
                self.send_header(k, rh[k])
        # a HEAD says the size of what a GET would send
        self.send_header("Content-Length", rh.get("Content-Length", "0")
                         if method == "HEAD" else str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        m = re.fullmatch(r"/v2/(.+)/referrers/sha256:([0-9a-f]{64})(\?.*)?",
                         self.path)
        if not m:
            return self.relay("GET")
        req = urllib.request.Request(
            "%s/v2/%s/manifests/sha256-%s" % (BACKEND, m.group(1), m.group(2)),
            headers={"Accept": INDEX})
        try:
            idx = json.loads(urllib.request.urlopen(req).read())
        except urllib.error.HTTPError:
            idx = {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}
        idx["manifests"] = [OTHER] + idx["manifests"]
        body = json.dumps(idx).encode()
        self.send_response(200)
        self.send_header("Content-Type", INDEX)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        self.relay("HEAD")

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
with open(sys.argv[2], "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
