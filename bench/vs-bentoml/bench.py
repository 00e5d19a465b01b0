"""Helpers of run.sh (standard library only; run with the system python3, not BentoML's venv).

    bench.py port                              a free TCP port on 127.0.0.1
    bench.py body OUT                          writes the 1 MiB tensor request {"t": 512x512 floats}
    bench.py ready T0_NS PORT TIMEOUT_S PID    polls GET /readyz every 5 ms until 200; prints the
                                               milliseconds since T0_NS (the server's start)
    bench.py check PORT PATH BODY_FILE EXPECT  one POST; fails unless 200 and EXPECT (a regular
                                               expression) matches the answer
    bench.py rss PID OUT [INTERVAL_S]          until SIGTERM or PID exits: samples VmRSS of PID and
                                               all its descendants, writes the peak of the sum
    bench.py pair PORT_A PATH_A PORT_B PATH_B BODY_FILE SECONDS
                                               alternates one POST to A and one to B (a keep-alive
                                               connection each) for SECONDS; prints the number of
                                               pairs, the median latencies of A and B (ms) and
                                               median(A) - median(B)
    bench.py report OUT_DIR                    the tables (markdown) and the chart's data
"""
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import sys
import time


def cmd_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def cmd_body(out):
    # 262144 float32 values (1 MiB as raw float32), as a 512 x 512 nested JSON list.
    rnd = random.Random(1)
    rows = [[round(rnd.uniform(-1, 1), 6) for _ in range(512)] for _ in range(512)]
    with open(out, "w") as f:
        json.dump({"t": rows}, f, separators=(",", ":"))


def cmd_ready(t0_ns, port, timeout_s, pid):
    t0_ns, port, deadline, pid = int(t0_ns), int(port), time.monotonic() + float(timeout_s), int(pid)
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                print(f"{(time.time_ns() - t0_ns) / 1e6:.1f}")
                return
        except OSError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit(f"the server (pid {pid}) exited before it was ready")
        time.sleep(0.005)
    sys.exit(f"not ready on port {port} after {timeout_s} s")


def cmd_check(port, path, body_file, expect):
    with open(body_file, "rb") as f:
        body = f.read()
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    c.request("POST", path, body, {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read().decode()
    if r.status != 200 or not re.search(expect, data):
        sys.exit(f"unexpected answer {r.status} from {path}: {data[:300]}")


class _Conn:
    """A minimal keep-alive HTTP/1.1 client for one request at a time: the request is built once
    and sent with one sendall, the answer read into a preallocated buffer (http.client spends
    hundreds of milliseconds on a 2.6 MB exchange, more than the servers do)."""

    def __init__(self, port, path, body):
        self.sock = socket.create_connection(("127.0.0.1", int(port)), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.path = path
        self.request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        self.buf = bytearray(64 << 20)
        self.view = memoryview(self.buf)

    def call(self):
        self.sock.sendall(self.request)
        n = 0
        while True:  # the head
            got = self.sock.recv_into(self.view[n:])
            if not got:
                sys.exit(f"{self.path}: connection closed")
            n += got
            end = self.buf.find(b"\r\n\r\n", 0, n)
            if end >= 0:
                break
        head = bytes(self.buf[:end]).decode("latin-1").lower()
        status = int(head.split(" ", 2)[1])
        m = re.search(r"\r\ncontent-length: *(\d+)", head)
        if not m:
            sys.exit(f"{self.path}: answer without Content-Length: {head[:300]}")
        total = end + 4 + int(m.group(1))
        while n < total:
            got = self.sock.recv_into(self.view[n:total])
            if not got:
                sys.exit(f"{self.path}: connection closed")
            n += got
        if status != 200:
            sys.exit(f"unexpected answer {status} from {self.path}: {bytes(self.buf[:min(n, 300)])}")


def cmd_pair(port_a, path_a, port_b, path_b, body_file, seconds):
    with open(body_file, "rb") as f:
        body = f.read()
    targets = [(_Conn(port_a, path_a, body), []), (_Conn(port_b, path_b, body), [])]
    deadline = time.monotonic() + float(seconds)
    i = 0
    while time.monotonic() < deadline or i < 4:
        # A then B, then B then A: neither always runs right after the other
        for conn, lat in targets if i % 2 == 0 else targets[::-1]:
            t0 = time.perf_counter_ns()
            conn.call()
            lat.append((time.perf_counter_ns() - t0) / 1e6)
        i += 1
    a, b = statistics.median(targets[0][1]), statistics.median(targets[1][1])
    print(f"{i}\t{a:.4f}\t{b:.4f}\t{a - b:.4f}")


def _tree(root):
    """PIDs of root and all its descendants (from the parent links in /proc/*/stat)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def _rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0  # gone, or a zombie


def cmd_rss(root, out, interval=0.05):
    root, interval = int(root), float(interval)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    peak = peak_n = max_one = first = samples = 0
    while not stop and os.path.exists(f"/proc/{root}"):
        rss = [r for r in map(_rss_kb, _tree(root)) if r]
        total = sum(rss)
        if samples == 0:
            first = total
        samples += 1
        if total > peak:
            peak, peak_n = total, len(rss)
        max_one = max([max_one, *rss])
        time.sleep(interval)
    with open(out, "w") as f:
        f.write(f"{peak}\t{peak_n}\t{max_one}\t{first}\t{samples}\n")


# ---- report -------------------------------------------------------------------------------------

CASES = [  # name, what, tiffin program, BentoML entry
    ("sequential", "sequential: Pipeline -> Preprocessing -> InferenceModel -> Postprocessing"),
    ("ensemble", "ensemble: Ensemble -> Preprocessor -> [ModelA, ModelB] -> Aggregator"),
    ("relay", "hop: Relay -> Echo, 1 MiB float32 tensor (tiffin: bench/hop)"),
    ("echo", "hop baseline: Echo alone, same request (tiffin: bench/hop --service Echo)"),
]


def _us(v):
    m = re.match(r"([0-9.]+)(us|ms|s|m)$", v)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 6e7}[m.group(2)]


def _load(out_dir):
    load, start = {}, {}
    for line in open(os.path.join(out_dir, "load.tsv")):
        server, case, conns, run, rps, p50, p99, errors = line.rstrip("\n").split("\t")
        d = load.setdefault((server, case, int(conns)), {"rps": [], "p50": [], "p99": [], "run": []})
        if errors != "0":
            continue
        d["rps"].append(float(rps))
        d["p50"].append(_us(p50) / 1e3)
        d["p99"].append(_us(p99) / 1e3)
        d["run"].append(int(run))
    for line in open(os.path.join(out_dir, "start.tsv")):
        server, case, run, ready_ms, peak, peak_n, max_one, idle, samples = line.rstrip("\n").split("\t")
        d = start.setdefault((server, case), {"ready": [], "rss": [], "n": [], "one": [], "idle": []})
        d["ready"].append(float(ready_ms) / 1e3)
        if int(samples) > 0:
            d["rss"].append(int(peak) / 1024)
            d["n"].append(int(peak_n))
            d["one"].append(int(max_one) / 1024)
            d["idle"].append(int(idle) / 1024)
    return load, start


def _stat(xs):
    return (statistics.median(xs), min(xs), max(xs)) if xs else None


def _fmt(s, digits):
    if s is None:
        return "–"
    med, lo, hi = s
    f = lambda x: f"{x:,.{digits}f}"
    return f"{f(med)} ({f(lo)}–{f(hi)})" if len({f(med), f(lo), f(hi)}) > 1 else f(med)


def _ratio(a, b):
    return f"{a[0] / b[0]:.3g}" if a and b and b[0] else "–"


def _digits(x):
    return 0 if x >= 100 else 1 if x >= 10 else 2 if x >= 1 else 3


def _hops(out_dir, load):
    """Per-hop overhead per server: from the interleaved pairs (hop.tsv, the measure) and
    from the wrk p50s at 1 connection of the separate Relay and Echo runs (paired by run)."""
    pairs = {}
    path = os.path.join(out_dir, "hop.tsv")
    for line in open(path) if os.path.exists(path) else ():
        server, relay, body, run, n, a, b, diff = line.rstrip("\n").split("\t")
        d = pairs.setdefault((server, relay, body), {"diff": [], "relay": [], "echo": [], "n": []})
        d["diff"].append(float(diff))
        d["relay"].append(float(a))
        d["echo"].append(float(b))
        d["n"].append(int(n))

    def from_wrk(server, relay, echo):
        r, e = load.get((server, relay, 1)), load.get((server, echo, 1))
        if not r or not e:
            return None
        er = dict(zip(e["run"], e["p50"]))
        return _stat([p - er[run] for run, p in zip(r["run"], r["p50"]) if run in er])

    out = {}
    for body in ("tensor", "tiny"):
        for name, server, relay, echo in (("tiffin", "tiffin", "relay", "echo"),
                                          ("BentoML", "bentoml", "relay", "echo")):
            p = pairs.get((server, relay, body))
            out[body, name] = {"pair": _stat(p["diff"]) if p else None,
                               "relay": _stat(p["relay"]) if p else None,
                               "echo": _stat(p["echo"]) if p else None,
                               "n": sum(p["n"]) if p else 0,
                               "wrk": from_wrk(server, relay, echo) if body == "tensor" else None}
    return out


def cmd_report(out_dir):
    load, start = _load(out_dir)
    conns = sorted({k[2] for k in load})
    have = [c for c in CASES if any(k[1] == c[0] for k in load)]

    print("| case | measure | tiffin | BentoML | tiffin / BentoML |")
    print("|---|---|---:|---:|---:|")
    for case, what in have:
        print(f"| **{case}** | {what} | | | |")
        for c in conns:
            t, b = load.get(("tiffin", case, c)), load.get(("bentoml", case, c))
            for key, label, unit in (("rps", "throughput", "req/s"), ("p50", "p50 latency", "ms"),
                                     ("p99", "p99 latency", "ms")):
                ts, bs = _stat(t[key] if t else []), _stat(b[key] if b else [])
                dg = _digits(min(x[0] for x in (ts, bs) if x) if ts or bs else 0)
                print(f"| | {label}, {c} conn{'s' if c > 1 else ''} ({unit}) | {_fmt(ts, dg)} | {_fmt(bs, dg)} | {_ratio(ts, bs)} |")
        t, b = start.get(("tiffin", case)), start.get(("bentoml", case))
        for key, label, dg in (("rss", "peak RSS, sum over all processes (MB)", 1),
                               ("n", "processes", 0),
                               ("one", "peak RSS of the largest process (MB)", 1),
                               ("idle", "RSS after the 1 s warm-up, sum (MB)", 1),
                               ("ready", "start to ready (s)", 3)):
            ts, bs = _stat(t[key] if t else []), _stat(b[key] if b else [])
            print(f"| | {label} | {_fmt(ts, dg)} | {_fmt(bs, dg)} | {_ratio(ts, bs)} |")

    hops = _hops(out_dir, load)
    print()
    print("Per-hop overhead: Relay -> Echo minus Echo alone. Interleaved: both servers up, one client")
    print("alternating a request to each for DURATION s; median(Relay) - median(Echo) per run, then the")
    print("median (min–max) over runs. From wrk: p50 at 1 connection of the separate runs above, paired by run.")
    print()
    print("| payload | server | pairs | Relay (ms) | Echo alone (ms) | per-hop overhead (ms) | BentoML's ÷ this | from wrk (ms) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (body, name), h in hops.items():
        if h["pair"] or h["wrk"]:
            bh = hops[body, "BentoML"]["pair"]
            ratio = _ratio(bh, h["pair"]) if bh and h["pair"] and h["pair"][0] > 0 and bh[0] > 0 else "–"
            dg = 2 if body == "tensor" else 3
            payload = "1 MiB float32 (JSON 2.6 MB)" if body == "tensor" else "1 x 1 float32"
            print(f"| {payload} | {name} | {h['n']} | {_fmt(h['relay'], dg)} | {_fmt(h['echo'], dg)} | "
                  f"{_fmt(h['pair'], dg)} | {ratio} | {_fmt(h['wrk'], 2) if body == 'tensor' else ''} |")

    def ratio(a, b):
        return a[0] / b[0] if a and b and b[0] > 0 else None

    print()
    print("| target | measured | met |")
    print("|---|---:|:---:|")
    for body in ("tensor", "tiny"):
        bh, h = hops[body, "BentoML"]["pair"], hops[body, "tiffin"]["pair"]
        if h and bh:
            r = ratio(bh, h) if bh[0] > 0 else None
            if r is None:
                shown = f"{h[0]:.3f} ms vs {bh[0]:.3f} ms"
            elif r >= 1:
                shown = f"{r:.1f}x lower ({h[0]:.3f} vs {bh[0]:.3f} ms)"
            else:
                shown = f"{1 / r:.1f}x HIGHER ({h[0]:.3f} vs {bh[0]:.3f} ms)"
            met = "yes" if (r is None and h[0] <= 0) or (r and r >= 20) else "no"
            payload = "1 MiB tensor" if body == "tensor" else "1 x 1 tensor"
            print(f"| per-hop overhead >= 20x lower than BentoML's, {payload} | {shown} | {met} |")
    for c in conns:
        t, b = load.get(("tiffin", "sequential", c)), load.get(("bentoml", "sequential", c))
        r = ratio(_stat(t["rps"]) if t else None, _stat(b["rps"]) if b else None)
        if r:
            print(f"| sequential throughput >= 10x BentoML's, {c} conn{'s' if c > 1 else ''} | {r:.1f}x | {'yes' if r >= 10 else 'no'} |")
    for case in ("sequential", "ensemble"):
        t = start.get(("tiffin", case))
        if t and t["rss"]:
            per = statistics.median(rss / n for rss, n in zip(t["rss"], t["n"]))
            print(f"| RSS per process < 10 MB under load, tiffin {case} | {per:.1f} MB on average, {max(t['one']):.1f} MB the largest | {'yes' if max(t['one']) < 10 else 'no'} |")

    # Chart data: one block per panel (gnuplot `index`), one line per case: median, min, max of
    # tiffin and of BentoML; "-" where there is none.
    def triple(s):
        return "- - -" if s is None else f"{s[0]:.6g} {s[1]:.6g} {s[2]:.6g}"

    label = {"sequential": "sequential", "ensemble": "ensemble", "relay": "Relay->Echo|1 MiB",
             "echo": "Echo alone|1 MiB"}
    panels = [("rps", 1), ("rps", 64), ("p50", 1), ("p99", 64), ("rss", None), ("ready", None)]
    with open(os.path.join(out_dir, "chart.dat"), "w") as f:
        for key, c in panels:
            f.write(f"# {key} {c or ''}\n")
            for case in ("sequential", "ensemble", "relay", "echo"):
                if c is None:
                    get = lambda srv, cs: _stat(start[(srv, cs)][key]) if (srv, cs) in start and start[(srv, cs)][key] else None
                else:
                    get = lambda srv, cs: _stat(load[(srv, cs, c)][key]) if (srv, cs, c) in load else None
                f.write(f'"{label[case]}" {triple(get("tiffin", case))} {triple(get("bentoml", case))}\n')
            f.write("\n\n")
        clamp = lambda s: None if s is None else tuple(max(x, 0.001) for x in s)  # log scale
        f.write("# per-hop overhead, ms\n")
        for body, lab in (("tensor", "1 MiB tensor"), ("tiny", "1 x 1 tensor")):
            f.write(f'"{lab}" {triple(clamp(hops[body, "tiffin"]["pair"]))} '
                    f'{triple(clamp(hops[body, "BentoML"]["pair"]))}\n')


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"port": cmd_port, "body": cmd_body, "ready": cmd_ready, "check": cmd_check, "rss": cmd_rss,
     "pair": cmd_pair, "report": cmd_report}[cmd](*args)


if __name__ == "__main__":
    main()
