#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A TCP proxy on 127.0.0.1 with one shared rate limit, for bench/coldstart.sh.

usage: throttle_proxy.py UPSTREAM_PORT RATE PORT_FILE

Listens on a free 127.0.0.1 port (written to PORT_FILE once listening) and
forwards every connection to 127.0.0.1:UPSTREAM_PORT.  RATE (bits/s, e.g.
1e9, 100e6; 0: unlimited) is one token bucket shared by all connections and
both directions, as one link would be: parallel range requests share it.
Not a test tool: the bench only.
"""
import asyncio
import sys
import time

CHUNK = 64 << 10


class Bucket:
    """Tokens in bytes, refilled at rate bytes/s, at most burst."""

    def __init__(self, rate):
        self.rate = rate
        self.burst = max(CHUNK, rate / 100) if rate else 0
        self.tokens = self.burst
        self.t = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, n):
        if not self.rate:
            return
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
                self.t = now
                if self.tokens >= n:
                    self.tokens -= n
                    return
                await asyncio.sleep((n - self.tokens) / self.rate)


async def pipe(reader, writer, bucket):
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            await bucket.take(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    upstream, rate, port_file = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    bucket = Bucket(rate / 8)

    async def handle(cr, cw):
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pipe(cr, uw, bucket), pipe(ur, cw, bucket))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    import os
    os.rename(port_file + ".tmp", port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
