"""An independent WebSocket client for echo-server's GET /ws tests: Debian's
python3-websockets (run it with /usr/bin/python3). It prints one JSON line
per step so the Go test can check what a client none of us wrote saw.

usage: wsclient.py URL [--ca PEM] [--big N] [--wait SECONDS] [--idle]
  --big N        after the echo checks, send an N-byte message (expect 1009)
  --wait S       after the echo checks, wait up to S seconds for the server
                 to close (drain, --max-conn-age, --ws-idle-timeout)
"""
import argparse
import asyncio
import json
import ssl
import sys
import time

import websockets


def out(**kw):
    print(json.dumps(kw), flush=True)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--ca")
    ap.add_argument("--big", type=int, default=0)
    ap.add_argument("--wait", type=float, default=0)
    a = ap.parse_args()
    ctx = None
    if a.url.startswith("wss:"):
        ctx = ssl.create_default_context(cafile=a.ca)
    async with websockets.connect(a.url, ssl=ctx, open_timeout=10, close_timeout=5,
                                  max_size=None, ping_interval=None) as ws:
        out(event="open", served_by=ws.response_headers.get("X-Served-By", ""))
        hello = await asyncio.wait_for(ws.recv(), 10)
        out(event="hello", text=isinstance(hello, str), data=json.loads(hello))
        text = "h\u00e9llo \u2603"
        await ws.send(text)
        got = await asyncio.wait_for(ws.recv(), 10)
        out(event="echo", type="text", ok=(got == text))
        blob = bytes(range(256)) * 4
        await ws.send(blob)
        got = await asyncio.wait_for(ws.recv(), 10)
        out(event="echo", type="binary", ok=(got == blob))
        pong = await ws.ping(b"p")
        await asyncio.wait_for(pong, 10)
        out(event="pong")
        if a.big:
            await ws.send(b"x" * a.big)
        if a.big or a.wait:
            t = time.monotonic()
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), a.wait or 10)
            except websockets.ConnectionClosed as e:
                out(event="closed", code=e.code, reason=e.reason, after_s=time.monotonic() - t)
            except asyncio.TimeoutError:
                out(event="timeout", after_s=time.monotonic() - t)
        else:
            await ws.close(1000, "done")
            out(event="closed", code=ws.close_code, reason=ws.close_reason, after_s=0)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:  # the test reads the error line
        out(event="error", error="%s: %s" % (type(e).__name__, e))
        sys.exit(1)
