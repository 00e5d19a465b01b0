"""Measures a served docsearch graph through its HTTP API (POST /search), for the README and
docs/benchmarks.md: any server that takes {"query", "images", "k"?, "timings"?} and answers
{"results": [{"line", "text", "confidence", "score"}], "missing"} (tiffin's build/examples/docsearch
and bench/docsearch/service.py both do).

    python bench/docsearch/measure.py accuracy --url http://127.0.0.1:3000 \
        --lines build/docsearch/lines --variants clean,noise,blur,skew --retrieval clean
    python bench/docsearch/measure.py latency --url http://127.0.0.1:3000 --n1 20 --n16 48

accuracy: every page of each variant read through the API (one request of its 10 pictures; for a
retrieval variant the requests of its queries serve): OCR character accuracy, exact lines
(white-space runs as one space), exact ignoring spaces; then each query of data/queries.tsv
asked among its page's 10 lines: top-1 and top-3. Prints markdown tables; --json writes all.
latency: examples/docsearch/request.json (10 lines, k=3) at 1 connection (n1 requests, one after the
other) and at 16 (n16 requests, 16 at a time, keep-alive connections): p50, p99, requests/s, the
answers that were degraded ("missing" not empty) or failed; with --timings the medians of the
entry's per-stage timings_ms (tiffin only).
"""
import argparse
import base64
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "examples", "docsearch"))
import reference  # noqa: E402  (read_manifest, read_queries, ocr_scores: standard library only here)


class Client:
    def __init__(self, url, timeout=300):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.conn = None

    def search(self, body):
        data = json.dumps(body).encode()
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request("POST", "/search", body=data,
                                  headers={"Content-Type": "application/json"})
                r = self.conn.getresponse()
                return r.status, r.read()
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise


def b64_files(paths):
    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(base64.b64encode(f.read()).decode())
    return out


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))]


def accuracy(args):
    manifest = reference.read_manifest(args.lines)
    queries = reference.read_queries()
    line_of = {text: line for line, _, _, text in manifest["clean"]}
    page_of = {line: page for line, page, _, _ in manifest["clean"]}
    client = Client(args.url)
    out = {}
    for v in args.variants.split(","):
        pages = reference.pages_of(manifest[v])
        ocr, hits1, hits3, nq = {}, 0, 0, 0
        asked = [(q, t) for q, t in queries] if v in args.retrieval.split(",") else []
        by_page = {}
        for q, t in asked:
            by_page.setdefault(page_of[line_of[t]], []).append((q, t))
        t0 = time.perf_counter()
        for page, entries in sorted(pages.items()):
            images = b64_files([p for _, p, _ in entries])
            for q, t in by_page.get(page, [("total", None)]):
                status, body = client.search({"query": q, "images": images})
                assert status == 200, (status, body[:300])
                ans = json.loads(body)
                assert ans["missing"] == [], ans["missing"]
                texts = {r["line"]: r["text"] for r in ans["results"]}
                if entries[0][0] not in ocr:
                    for i, (line, _, truth) in enumerate(entries):
                        ocr[line] = (texts[i], truth)
                if t is not None:
                    want = [l for l, _, _ in entries].index(line_of[t])
                    ranked = [r["line"] for r in ans["results"]]
                    nq += 1
                    hits1 += ranked[0] == want
                    hits3 += want in ranked[:3]
        acc, exact, exact_ns = reference.ocr_scores(list(ocr.values()))
        out[v] = {"lines": len(ocr), "char_accuracy": acc, "exact_lines": exact,
                  "exact_lines_nospace": exact_ns, "queries": nq,
                  "top1": hits1 / nq if nq else None, "top3": hits3 / nq if nq else None,
                  "seconds": time.perf_counter() - t0}
        print(f"measure: {v}: {out[v]}", file=sys.stderr)
    print("| variant | lines | OCR char accuracy | exact lines | exact, spaces ignored | queries "
          "| top-1 | top-3 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for v, r in out.items():
        top = (f"{r['queries']} | {100 * r['top1']:.1f}% | {100 * r['top3']:.1f}%"
               if r["queries"] else "- | - | -")
        print(f"| {v} | {r['lines']} | {100 * r['char_accuracy']:.2f}% | "
              f"{100 * r['exact_lines']:.1f}% | {100 * r['exact_lines_nospace']:.1f}% | {top} |")
    return out


def run_load(url, body, conns, n):
    lat, degraded, failed = [], 0, 0
    lock = threading.Lock()
    todo = iter(range(n))
    timings = []

    def worker():
        nonlocal degraded, failed
        c = Client(url)
        while True:
            with lock:
                if next(todo, None) is None:
                    return
            t = time.perf_counter()
            try:
                status, raw = c.search(body)
            except Exception:  # noqa: BLE001 — counted
                status, raw = 0, b""
            dt = time.perf_counter() - t
            with lock:
                lat.append(dt)
                if status != 200:
                    failed += 1
                    continue
                ans = json.loads(raw)
                degraded += bool(ans.get("missing"))
                if "timings_ms" in ans:
                    timings.append(ans["timings_ms"])

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    return {"connections": conns, "requests": n, "seconds": wall, "rps": n / wall,
            "p50_ms": 1e3 * pct(lat, 0.5), "p99_ms": 1e3 * pct(lat, 0.99),
            "degraded": degraded, "failed": failed, "timings": timings}


def latency(args):
    with open(os.path.join(ROOT, "examples", "docsearch", "request.json")) as f:
        body = json.load(f)
    body["k"] = 3
    if args.timings:
        body["timings"] = True
    run_load(args.url, body, 2, 4)  # warm-up
    rows = [run_load(args.url, body, 1, args.n1), run_load(args.url, body, 16, args.n16)]
    print(f"| server | connections | requests | requests/s | p50 ms | p99 ms | degraded | failed |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {args.name} | {r['connections']} | {r['requests']} | {r['rps']:.2f} | "
              f"{r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['degraded']} | {r['failed']} |")
    if args.timings and rows[0]["timings"]:
        keys = list(rows[0]["timings"][0].keys())
        print()
        print("| stage medians (ms) | " + " | ".join(keys) + " |")
        print("|---|" + "---:|" * len(keys))
        for r in rows:
            med = [statistics.median(t[k] for t in r["timings"]) for k in keys]
            print(f"| {r['connections']} connection(s) | " + " | ".join(f"{m:.1f}" for m in med) + " |")
    return [{k: v for k, v in r.items() if k != "timings"} | {"timings_median": {
        k: statistics.median(t[k] for t in r["timings"]) for k in (r["timings"][0] if r["timings"] else {})}}
        for r in rows]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["accuracy", "latency"])
    p.add_argument("--url", default="http://127.0.0.1:3000")
    p.add_argument("--lines", default=os.path.join(ROOT, "build", "docsearch", "lines"))
    p.add_argument("--variants", default="clean")
    p.add_argument("--retrieval", default="clean")
    p.add_argument("--n1", type=int, default=20)
    p.add_argument("--n16", type=int, default=48)
    p.add_argument("--timings", action="store_true")
    p.add_argument("--name", default="tiffin")
    p.add_argument("--json")
    args = p.parse_args()
    out = accuracy(args) if args.what == "accuracy" else latency(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
