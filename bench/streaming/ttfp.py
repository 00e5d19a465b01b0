#!/usr/bin/env python3
"""Time to first piece and whole-stream time through examples/streaming (Detokenizer ->
Tokenizer, then Generator's stream relayed as text), three processes under `serve`, and through
the same pipeline in BentoML 1.4 (bento_streaming.py: three services under `bentoml serve`, async
generators, bentoml.depends), in one run: both servers up at once, their requests interleaved.
Against the floor of one HTTP round trip to tiffin's entry (GET /livez: no hop, no stream).
Prints a table; usage:

    bench/streaming/run.sh          (after `make all`; makes build/venv-bentoml on first use)

BENTOML_BIN (the `bentoml` program; run.sh sets it) empty or unset: tiffin only.
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

BUILD = os.environ.get("BUILD", "build")
N = int(os.environ.get("N", "300"))
TOKENS = int(os.environ.get("TOKENS", "32"))
BIN = os.path.join(BUILD, "examples", "streaming")
BENTOML_BIN = os.environ.get("BENTOML_BIN", "")
HERE = os.path.dirname(os.path.abspath(__file__))


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


def dechunk(raw):
    """The body of a chunked HTTP/1.1 response."""
    rest, body = raw.split(b"\r\n\r\n", 1)[1], b""
    while rest:
        size, rest = rest.split(b"\r\n", 1)
        n = int(size.split(b";")[0], 16)
        if n == 0:
            break
        body, rest = body + rest[:n], rest[n + 2:]
    return body


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_bentoml(home):
    """Starts bento_streaming:Detokenizer under `bentoml serve`; returns (process, port) once its
    GET /readyz answers 200 (its three services are up)."""
    port = free_port()
    env = dict(os.environ, BENTOML_HOME=home, BENTOML_DO_NOT_TRACK="true")
    proc = subprocess.Popen([BENTOML_BIN, "serve", "bento_streaming:Detokenizer", "--host",
                             "127.0.0.1", "--port", str(port)], cwd=HERE, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("bentoml serve exited before it was ready")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
                c.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if c.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    stop(proc)
    sys.exit("bentoml serve was not ready after 120 s")


def stop(proc):
    """SIGTERM (BentoML's arbiter stops its workers, tiffin's supervisor its children)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    body = json.dumps({"prompt": "the cat", "max_tokens": TOKENS, "delay_ms": 0}).encode()
    stream = (b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
    livez = b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    proc = subprocess.Popen([BIN, "serve", "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    bento = None
    try:
        port = int(proc.stdout.readline().decode().rsplit(":", 1)[1])
        while proc.stdout.readline().strip() != b"ready":
            pass
        servers = [("tiffin", port)]
        if BENTOML_BIN:
            import tempfile
            home = tempfile.mkdtemp(prefix="bentoml-home-")
            bento, bport = start_bentoml(home)
            servers.append(("BentoML", bport))
        want = b"sat a flew saw bird mat"
        for name, p in servers:  # the same answer from both
            with socket.create_connection(("127.0.0.1", p)) as c:
                c.sendall(stream)
                raw = b""
                while (got := c.recv(65536)):
                    raw += got
            if not dechunk(raw).startswith(want):
                sys.exit("%s answered %r" % (name, raw[:300]))
        for _ in range(30):  # warm up the pools and the caches
            for _, p in servers:
                request(p, stream)
                request(p, livez)
        floor = {n: [] for n, _ in servers}
        runs = {n: [] for n, _ in servers}
        for _ in range(N):  # interleaved, so that both see the same machine load
            for n, p in servers:
                floor[n].append(request(p, livez)[0])
                runs[n].append(request(p, stream))
    finally:
        stop(proc)
        if bento:
            stop(bento)
    f50 = statistics.median(floor["tiffin"])
    load = os.getloadavg()
    print("time to first piece, examples/streaming (3 processes) under tiffin's serve%s, %d "
          "requests each, %d tokens, new connection per request, requests interleaved; load "
          "average %.2f %.2f %.2f (shared machine, %d CPUs)"
          % (" and the same pipeline under BentoML %s" % bentoml_version() if BENTOML_BIN else "",
             N, TOKENS, load[0], load[1], load[2], os.cpu_count()))
    print("| measure | p50 µs | p90 µs | p50 / floor |")
    print("|---|---:|---:|---:|")
    rows = [("floor: tiffin GET /livez round trip (entry only)", floor["tiffin"])]
    for n, _ in servers:
        rows += [("%s: first piece (Tokenizer call + Generator stream + relay)" % n,
                  [r[0] for r in runs[n]]),
                 ("%s: whole stream of %d pieces" % (n, TOKENS), [r[1] for r in runs[n]])]
    if BENTOML_BIN:
        rows.append(("BentoML: GET /livez round trip (entry only)", floor["BentoML"]))
    for name, xs in rows:
        print("| %s | %.0f | %.0f | %.1f |" % (name, statistics.median(xs) * 1e6,
                                              pct(xs, 90) * 1e6, statistics.median(xs) / f50))
    if BENTOML_BIN:
        for what, i in (("first piece", 0), ("whole stream", 1)):
            print("BentoML / tiffin, %s p50: %.1fx" % (what, statistics.median(
                [r[i] for r in runs["BentoML"]]) / statistics.median([r[i] for r in runs["tiffin"]])))
    else:
        print("BentoML was not run in this measurement (BENTOML_BIN unset).")


def bentoml_version():
    out = subprocess.run([os.path.join(os.path.dirname(BENTOML_BIN), "python"), "-c",
                          "import bentoml; print(bentoml.__version__)"], capture_output=True,
                         text=True)
    return out.stdout.strip() or "(version unknown)"


if __name__ == "__main__":
    sys.exit(main())
