"""Adaptive batching (tfn_api_t.batch) over real sockets: many concurrent clients, one worker.

batchsvc's handlers answer with "batch_id" and "batch_rows" (per-batch scalars, copied to every
request of the batch) beside the rows of their own output, so every test can see how requests
were merged and check that each got exactly its own rows back.
"""
import concurrent.futures
import http.client
import json
import os
import subprocess
import time

import pytest

from conftest import BUILD

BATCHSVC = os.path.join(BUILD, "tests", "integration", "batchsvc")


def batchsvc(make_server, *args, sleep_ms=None):
    env = {"BATCHSVC_SLEEP_MS": str(sleep_ms)} if sleep_ms is not None else None
    return make_server(BATCHSVC, *args, env=env)


def post(server, api, obj, headers=None, timeout=20):
    """POST on a fresh connection; returns (status, body as JSON, seconds taken)."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        conn.request("POST", "/" + api, body=json.dumps(obj), headers=h)
        r = conn.getresponse()
        return r.status, json.loads(r.read()), time.monotonic() - t0
    finally:
        conn.close()


def concurrently(n, fn):
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, range(n)))


def rows(i, k=1, d=3):
    return [[float(i * 100 + r * 10 + c) for c in range(d)] for r in range(k)]


def doubled(x):
    return [[2 * v for v in row] for row in x]


def batch_stats(server, api):
    return server.get("/healthz").json()["batch"][api]


@pytest.mark.parametrize("api", ["double", "double_loop"])
def test_concurrent_requests_merge_and_each_gets_its_own_rows(make_server, api):
    s = batchsvc(make_server, sleep_ms=30)
    out = concurrently(32, lambda i: post(s, api, {"x": rows(i)}))
    for i, (status, body, _) in enumerate(out):
        assert status == 200, body
        assert body["y"] == doubled(rows(i))
        assert 1 <= body["batch_rows"] <= 8
    # Requests of one batch agree on its size, and some batches held several requests.
    by_batch = {}
    for _, body, _ in out:
        by_batch.setdefault(body["batch_id"], []).append(body["batch_rows"])
    assert all(len(set(v)) == 1 and v[0] == len(v) for v in by_batch.values()), by_batch
    if api == "double":  # the loop handler runs each batch at once: merging there is by chance
        assert max(len(v) for v in by_batch.values()) > 1, by_batch
    st = batch_stats(s, api)
    assert st["requests"] == 32 and st["rows"] == 32
    assert st["batches"] == len(by_batch)
    assert st["max_size"] == 8 and st["queued_rows"] == 0 and st["running"] == 0
    assert sum(st["sizes"].values()) == st["batches"]


def test_a_request_of_k_rows_counts_k_and_gets_k_back(make_server):
    s = batchsvc(make_server, sleep_ms=30)
    ks = [1 + i % 5 for i in range(24)]
    out = concurrently(24, lambda i: post(s, "double", {"x": rows(i, ks[i])}))
    for i, (status, body, _) in enumerate(out):
        assert status == 200, body
        assert body["y"] == doubled(rows(i, ks[i]))
        assert ks[i] <= body["batch_rows"] <= 8
    by_batch = {}
    for i, (_, body, _) in enumerate(out):
        by_batch.setdefault(body["batch_id"], []).append((ks[i], body["batch_rows"]))
    for members in by_batch.values():  # a batch's rows are its requests' rows, at most max_size
        assert sum(k for k, _ in members) == members[0][1] <= 8
    assert batch_stats(s, "double")["rows"] == sum(ks)


def test_a_request_larger_than_max_size_is_413(make_server):
    s = batchsvc(make_server)
    status, body, _ = post(s, "double", {"x": rows(0, 9)})
    assert status == 413 and body["code"] == "ETOOBIG"
    assert "at most 8" in body["error"]
    status, body, _ = post(s, "double", {"x": rows(0, 8)})
    assert status == 200 and body["batch_rows"] == 8


def test_bad_input_is_rejected_before_it_joins(make_server):
    s = batchsvc(make_server, sleep_ms=30)
    bad = [
        {"x": [[1.0, 2.0]]},  # fine
        {"x": [[1.0], [2.0]], "y": 1},  # unknown field
        {"x": "text"},
        {"x": [1.0, 2.0]},  # rank 1
    ]
    status, body, _ = post(s, "add", {"a": rows(0, 2), "b": rows(0, 3)})
    assert status == 400 and "same number of rows" in body["error"], body

    def one(i):
        if i % 4 == 0:
            return post(s, "double", bad[(i // 4) % 4])
        return post(s, "double", {"x": rows(i)})

    out = concurrently(24, one)
    for i, (status, body, _) in enumerate(out):
        if i % 4 == 0 and (i // 4) % 4 != 0:
            assert status == 400, body
        else:
            assert status == 200, body
    assert batch_stats(s, "double")["failed_batches"] == 0


def test_a_handler_error_fails_its_whole_batch_and_only_it(make_server):
    s = batchsvc(make_server, sleep_ms=30)
    poison = {5, 17}
    out = concurrently(24, lambda i: post(s, "double", {"x": [[-1.0 if i in poison else i]]}))
    failed_batches = set()
    for i, (status, body, _) in enumerate(out):
        if status != 200:
            assert status == 500 and body["code"] == "EHANDLER", body
            failed_batches.add(int(body["error"].split()[1].rstrip(":")))
    for i in poison:
        assert out[i][0] == 500
    for i, (status, body, _) in enumerate(out):
        if status == 200:
            assert i not in poison and body["batch_id"] not in failed_batches
            assert body["y"] == [[2.0 * i]]
    st = batch_stats(s, "double")
    assert st["failed_batches"] == len(failed_batches)
    # A batch whose output cannot be split fails every request in it with EOUTPUT.
    out = concurrently(8, lambda i: post(s, "bad_rows", {"x": rows(i)}))
    assert all(st == 500 and b["code"] == "EOUTPUT" for st, b, _ in out), out


def test_inputs_with_different_trailing_dims_go_in_separate_batches(make_server):
    s = batchsvc(make_server, sleep_ms=30)
    dims = [2 + i % 3 for i in range(30)]
    out = concurrently(30, lambda i: post(s, "double", {"x": rows(i, 1, dims[i])}))
    by_batch = {}
    for i, (status, body, _) in enumerate(out):
        assert status == 200, body
        assert body["y"] == doubled(rows(i, 1, dims[i]))
        by_batch.setdefault(body["batch_id"], set()).add(dims[i])
    assert all(len(d) == 1 for d in by_batch.values()), by_batch
    # Two inputs, a tensor output (split by rows as well).
    out = concurrently(16, lambda i: post(s, "add", {"a": rows(i, 2), "b": rows(i, 2)}))
    for i, (status, body, _) in enumerate(out):
        assert status == 200 and body == doubled(rows(i, 2)), body


def test_a_lone_client_pays_no_waiting_tax(make_server):
    # max_latency_ms 2000: a request that waited for company would take two seconds.
    s = batchsvc(make_server, "--max-latency-ms", "2000")
    for i in range(20):
        status, body, took = post(s, "double", {"x": rows(i)})
        assert status == 200 and body["batch_rows"] == 1
        assert took < 1.0, took
    assert batch_stats(s, "double")["wait_ms"]["max"] < 1000


def test_requests_gather_while_a_batch_runs_but_not_past_max_latency(make_server):
    s = batchsvc(make_server, sleep_ms=600)  # max_latency_ms 50, two handler threads
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(post, s, "double", {"x": rows(0)})
        time.sleep(0.15)  # the first batch is running
        second = pool.submit(post, s, "double", {"x": rows(1)})
        s1, b1, t1 = first.result()
        s2, b2, t2 = second.result()
    assert s1 == 200 and s2 == 200
    # The second did not wait for the first batch to end (that would be ~1.05 s): it went on the
    # free thread once it had waited max_latency_ms.
    assert b2["batch_id"] != b1["batch_id"]
    assert t2 < 1.0, t2


def test_a_request_whose_deadline_passes_while_waiting_is_504_on_time(make_server):
    s = batchsvc(make_server, "--threads", "1", "--max-latency-ms", "5000", sleep_ms=800)
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        first = pool.submit(post, s, "double", {"x": rows(0)})
        time.sleep(0.15)
        late = pool.submit(post, s, "double", {"x": rows(1)},
                           {"X-Tiffin-Deadline-Ms": "200"})
        ok = pool.submit(post, s, "double", {"x": rows(2)})
        s1, _, _ = first.result()
        s2, b2, t2 = late.result()
        s3, b3, _ = ok.result()
    assert s1 == 200
    assert s2 == 504 and b2["code"] == "ETIMEOUT", b2
    assert t2 < 0.6, t2  # answered at its deadline, not when the batch could run
    assert s3 == 200 and b3["y"] == doubled(rows(2))
    st = batch_stats(s, "double")
    assert st["expired"] >= 1  # it never ran


def test_many_clients_never_exceed_max_size(make_server):
    s = batchsvc(make_server, "--batch", "double=4", sleep_ms=5)
    out = concurrently(64, lambda i: post(s, "double", {"x": rows(i, 1 + i % 2)}))
    for i, (status, body, _) in enumerate(out):
        assert status == 200, body
        assert body["batch_rows"] <= 4
        assert body["y"] == doubled(rows(i, 1 + i % 2))
    st = batch_stats(s, "double")
    assert st["max_size"] == 4 and st["rows"] == sum(1 + i % 2 for i in range(64))
    assert set(st["sizes"]) <= {"1", "2", "4"}


def test_batch_flags(make_server):
    s = batchsvc(make_server, "--batch", "0", "--batch", "add=3", "--max-latency-ms", "7")
    health = s.get("/healthz").json()
    assert set(health["batch"]) == {"add"}  # --batch 0 turned the others off
    assert health["batch"]["add"]["max_size"] == 3
    assert health["batch"]["add"]["max_latency_ms"] == 7
    status, body, _ = post(s, "double", {"x": rows(0, 20)})  # not batched: any size
    assert status == 200 and body["batch_rows"] == 20
    for args, msg in [(["--batch", "nosuch=3"], "no API 'nosuch'"),
                      (["--batch", "echo=3"], "does not take batches"),
                      (["--batch", "x"], "wants N or API=N"),
                      (["--max-latency-ms", "0"], "at least 1 ms")]:
        r = subprocess.run([BATCHSVC, "serve", "--port", "0"] + args, capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 2 and msg in r.stderr, (args, r.stderr)
