#!/usr/bin/env python3
"""How many requests one entry worker holds while they await a dependency.

Starts `hop serve` (Relay -> Echo, one process each), opens N connections to Relay and sends
POST /hold {"ms": HOLD} on each: Relay calls Echo.pause, which waits HOLD ms without blocking
(tfn_sleep), so every request is parked in Relay awaiting its dependency at the same time.
While they are parked it samples Relay's /healthz in_flight, its RSS and its thread count
(/proc/PID/status), then checks that every request got its 200.

    bench/hop/inflight.py [N] [HOLD_MS]        (defaults: 10000, 8000)

Each parked request costs Relay two file descriptors (the client's connection and a pooled
connection to Echo). A worker raises its soft RLIMIT_NOFILE to the hard limit at start, and a
privileged one (root in a container) raises a hard limit under 65536 to 65536 (lib/server/limits.c);
otherwise N is bounded by about half the hard limit. Relay and Echo raise their connection cap
(traffic.max_connections, 10,000 by default) to 30,000 in bench/hop/hop.c: N clients plus the
probe.
"""
import asyncio
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOP = os.path.join(ROOT, os.environ.get("BUILD", "build"), "bench", "hop")


def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["Threads"])


def relay_pid(supervisor):
    for child in open(f"/proc/{supervisor}/task/{supervisor}/children").read().split():
        if b"--service\0Relay" in open(f"/proc/{child}/cmdline", "rb").read():
            return int(child)
    raise SystemExit("no Relay process")


async def hold(port, body, results):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"POST /hold HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await w.drain()
        line = await r.readline()
        status = line.split()[1] if line else b"EOF"
        if status not in (b"200", b"EOF"):  # say why: the body's error message
            rest = await r.read(4096)
            status += b" " + rest.split(b"\r\n\r\n", 1)[-1][:200]
        results.append(status)
        w.close()
    except OSError as e:
        results.append(str(e).encode())


async def healthz(port):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await r.read()
    w.close()
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


async def main(n, hold_ms):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    proc = subprocess.Popen([HOP, "serve", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        port = int(proc.stdout.readline().decode().rsplit(":", 1)[1])
        while proc.stdout.readline().strip() != b"ready":
            pass
        pid = relay_pid(proc.pid)
        rss0, threads0 = status(pid)
        body = json.dumps({"ms": hold_ms}).encode()
        results = []
        t0 = time.monotonic()
        tasks = []
        for i in range(n):  # connect in waves: the listen backlog is 1024
            tasks.append(asyncio.create_task(hold(port, body, results)))
            if i % 500 == 499:
                await asyncio.sleep(0.05)
        peak = {"in_flight": 0, "rss_kb": rss0, "threads": threads0}
        while len(results) < n and time.monotonic() - t0 < hold_ms / 1000 + 60:
            h = await healthz(port)
            rss, threads = status(pid)
            if "in_flight" not in h:  # refused (over its connection cap?): say so, go on
                print(f"/healthz answered {h}", file=sys.stderr)
                h = {"in_flight": 0}
            if h["in_flight"] >= peak["in_flight"]:
                peak = {"in_flight": h["in_flight"], "rss_kb": rss, "threads": threads}
            await asyncio.sleep(0.25)
        await asyncio.gather(*tasks)
        took = time.monotonic() - t0
        ok = sum(1 for r in results if r == b"200")
        others = {}
        for r in results:
            if r != b"200":
                others[r] = others.get(r, 0) + 1
        for what, count in sorted(others.items(), key=lambda kv: -kv[1]):
            print(f"  not 200: {count} x {what.decode(errors='replace')[:120]}")
        print(f"requests sent:                {n}")
        print(f"answered 200:                 {ok}")
        print(f"peak in flight in Relay:      {peak['in_flight']}")
        print(f"Relay threads at the peak:    {peak['threads']} (idle: {threads0})")
        print(f"Relay RSS idle / at the peak: {rss0 / 1024:.1f} / {peak['rss_kb'] / 1024:.1f} MiB "
              f"({(peak['rss_kb'] - rss0) / max(peak['in_flight'], 1):.1f} KiB per parked request)")
        print(f"all answered after:           {took:.2f} s (each held {hold_ms} ms)")
        return 0 if ok == n else 1
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    hold_ms = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
    sys.exit(asyncio.run(main(n, hold_ms)))
