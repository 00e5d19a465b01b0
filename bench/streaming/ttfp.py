#!/usr/bin/env python3
"""Time to first piece through examples/streaming (Detokenizer -> Tokenizer, then Generator's
stream relayed as text), three processes under `serve`, against the floor of one HTTP round trip
to the same entry (GET /livez: no hop, no stream). Prints a table; usage:

    bench/streaming/run.sh          (after `make all`)
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import time

BUILD = os.environ.get("BUILD", "build")
N = int(os.environ.get("N", "300"))
TOKENS = int(os.environ.get("TOKENS", "32"))
BIN = os.path.join(BUILD, "examples", "streaming")


def request(port, raw):
    """Sends `raw`; returns (seconds to the first body byte, seconds to the end)."""
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter()
        c.sendall(raw)
        data, first = b"", None
        while True:
            got = c.recv(65536)
            if not got:
                break
            data += got
            head_end = data.find(b"\r\n\r\n")
            if first is None and head_end >= 0 and len(data) > head_end + 4:
                first = time.perf_counter() - t0
            if data.endswith(b"0\r\n\r\n") or (b"Content-Length" in data[:head_end] and first):
                break
        return first, time.perf_counter() - t0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main():
    proc = subprocess.Popen([BIN, "serve", "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        port = int(proc.stdout.readline().decode().rsplit(":", 1)[1])
        while proc.stdout.readline().strip() != b"ready":
            pass
        body = json.dumps({"prompt": "the cat", "max_tokens": TOKENS, "delay_ms": 0}).encode()
        stream = (b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        livez = b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        for _ in range(30):  # warm up the pools and the caches
            request(port, stream)
            request(port, livez)
        floor = [request(port, livez)[0] for _ in range(N)]
        runs = [request(port, stream) for _ in range(N)]
    finally:
        proc.terminate()
        proc.wait()
    ttfp = [r[0] for r in runs]
    total = [r[1] for r in runs]
    f50 = statistics.median(floor)
    load = os.getloadavg()[0]
    print("time to first piece, examples/streaming under serve (3 processes), %d requests, "
          "%d tokens each, new connection per request; load average %.2f (shared machine)"
          % (N, TOKENS, load))
    print("| measure | p50 µs | p90 µs | p50 / floor |")
    print("|---|---:|---:|---:|")
    for name, xs in (("floor: GET /livez round trip (entry only)", floor),
                     ("tiffin: first piece (Tokenizer call + Generator stream + relay)", ttfp),
                     ("tiffin: whole stream of %d pieces" % TOKENS, total)):
        print("| %s | %.0f | %.0f | %.1f |" % (name, statistics.median(xs) * 1e6,
                                              pct(xs, 90) * 1e6, statistics.median(xs) / f50))
    print("BentoML 1.4.40 was not run in this measurement.")


if __name__ == "__main__":
    sys.exit(main())
