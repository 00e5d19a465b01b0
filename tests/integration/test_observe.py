"""Observability: GET /metrics (checked by Prometheus' own promtool and scraped by a real
Prometheus server), W3C Trace Context, Server-Timing and the access log, on real processes."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import pytest
from conftest import BUILD, HELLO, TESTSVC
from test_serve_graph import read_table, wait_new_pid

CHAIN = os.path.join(BUILD, "tests", "integration", "chainsvc")
SEQUENTIAL = os.path.join(BUILD, "examples", "sequential")
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = "00-%s-b7ad6b7169203331-01" % TRACE_ID
TP_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def scrape(server):
    """GET /metrics; checks it with promtool (every exposition a test sees); returns the text."""
    r = server.get("/metrics")
    assert r.status == 200, r
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = r.body.decode()
    assert PROMTOOL, "promtool is missing: scripts/install-deps.sh test installs prometheus"
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
    assert check.returncode == 0, (check.stdout, check.stderr, text)
    return text


def samples(text):
    """{(name, frozenset of labels): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-z_]+)\{(.*)\} (\S+)$', line)
        assert m, line
        labels = frozenset(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples(text).items() if n == name and want <= set(ls))


def test_hello_metrics_count_requests_by_api_and_code(hello):
    for _ in range(5):
        assert hello.post("greet", {"name": "Ada"}).status == 200
    assert hello.post("greet", {"name": 3}).status == 400
    assert hello.post("greet", raw="{", content_type="application/json").status == 400
    text = scrape(hello)
    assert 'tiffin_build_info{version="' in text
    assert value(text, "tiffin_http_requests_total", api="greet", code="200") == 5
    assert value(text, "tiffin_http_requests_total", api="greet", code="400") == 2
    assert value(text, "tiffin_http_request_duration_seconds_count", api="greet") == 7
    assert value(text, "tiffin_http_request_duration_seconds_bucket", api="greet",
                 le="+Inf") == 7
    assert 0 < value(text, "tiffin_http_request_duration_seconds_sum", api="greet") < 1
    assert value(text, "tiffin_http_requests_in_flight", service="Hello") == 0
    # Operational endpoints are not API requests.
    assert "/metrics" not in text and 'api="metrics"' not in text


def test_429_and_504_are_counted(make_server):
    s = make_server(TESTSVC, "--max-concurrency", "1", "--timeout", "300")
    results = []
    t = threading.Thread(target=lambda: results.append(s.post("sleep", {"ms": 600}).status))
    t.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # until the sleep holds the only slot
        if value(scrape(s), "tiffin_http_requests_in_flight") == 1:
            break
        time.sleep(0.02)
    busy = s.post("echo", {"value": 1})
    t.join()
    assert busy.status == 429 and results == [504]
    assert TP_RE.match(busy.headers["traceparent"])  # refused requests are traced too
    time.sleep(0.4)  # the timed-out handler really returns
    text = scrape(s)
    assert value(text, "tiffin_http_requests_total", api="echo", code="429") == 1
    assert value(text, "tiffin_http_requests_total", api="sleep", code="504") == 1
    assert value(text, "tiffin_http_requests_in_flight") == 0


def test_traceparent_is_continued_and_returned(hello):
    r = hello.post("greet", {"name": "Ada"}, headers={"traceparent": TRACEPARENT,
                                                      "tracestate": "congo=t61rcWkgMzE"})
    assert r.status == 200
    m = TP_RE.match(r.headers["traceparent"])
    assert m and m.group(1) == TRACE_ID and m.group(2) != "b7ad6b7169203331"
    assert m.group(3) == "01"
    # Without one, a new trace.
    a = TP_RE.match(hello.post("greet", {"name": "A"}).headers["traceparent"])
    b = TP_RE.match(hello.post("greet", {"name": "B"}).headers["traceparent"])
    assert a and b and a.group(1) != b.group(1) and a.group(1) != TRACE_ID


@pytest.mark.parametrize("bad", [
    "garbage", "", "00-%s-b7ad6b7169203331-1" % TRACE_ID,
    "00-%s-b7ad6b7169203331-01" % TRACE_ID.upper(),
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",
    "00-%s-0000000000000000-01" % TRACE_ID, "ff-%s-b7ad6b7169203331-01" % TRACE_ID,
    "00-%s-b7ad6b7169203331-01-extra" % TRACE_ID, "x" * 1000])
def test_malformed_traceparent_starts_a_new_trace(hello, bad):
    r = hello.post("greet", {"name": "Ada"}, headers={"traceparent": bad})
    assert r.status == 200, r
    m = TP_RE.match(r.headers["traceparent"])
    assert m and m.group(1) != TRACE_ID


def test_traceparent_given_twice_is_ignored(hello):
    data = ("POST /greet HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "traceparent: %s\r\ntraceparent: %s\r\nContent-Length: 2\r\nConnection: close\r\n"
            "\r\n{}" % (TRACEPARENT, TRACEPARENT)).encode()
    head = hello.raw(data).split(b"\r\n\r\n")[0].decode()
    tp = re.search(r"traceparent: (\S+)", head).group(1)
    assert TRACE_ID not in tp and TP_RE.match(tp)


def test_observe_off(make_server):
    s = make_server(HELLO, env={"TFN_OBSERVE": "off"})
    r = s.post("greet", {"name": "Ada"}, headers={"traceparent": TRACEPARENT})
    assert r.status == 200 and "traceparent" not in r.headers
    m = s.get("/metrics")
    assert m.status == 404 and m.json()["code"] == "ENOTFOUND"


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_traceparent_from_tiffin_is_parsed_when_needed(make_server, tmp_path):
    # A tiffin caller (X-Tiffin-Deadline-Ms) gets no trace headers back, and its traceparent is
    # parsed only when the service needs the ids (here: for its access log line): continued
    # when valid, a new root trace when not, as for anyone else.
    log = str(tmp_path / "access.jsonl")
    s = make_server(HELLO, "--access-log", log)
    cases = [({"traceparent": TRACEPARENT}, True),
             ({"traceparent": TRACEPARENT.upper()}, False),
             ({"traceparent": TRACEPARENT, "tracestate": "k=v"}, True)]
    for headers, _ in cases:
        headers = dict(headers, **{"X-Tiffin-Deadline-Ms": "5000"})
        r = s.post("greet", {"name": "Ada"}, headers=headers)
        assert r.status == 200 and "traceparent" not in r.headers, r
    deadline = time.monotonic() + 5
    while len(read_log(log)) < len(cases) and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = read_log(log)
    assert len(lines) == len(cases), lines
    for line, (headers, continued) in zip(lines, cases):
        if continued:
            assert line["trace_id"] == TRACE_ID and line["parent_id"] == "b7ad6b7169203331", line
        else:
            assert line["trace_id"] != TRACE_ID and line["parent_id"] is None, line
            assert re.match(r"^[0-9a-f]{32}$", line["trace_id"]) and line["trace_id"] != "0" * 32
        assert re.match(r"^[0-9a-f]{16}$", line["span_id"]) and line["span_id"] != "0" * 16


def test_one_request_through_three_services_is_one_trace(make_server, tmp_path):
    log = str(tmp_path / "access.jsonl")
    s = make_server(CHAIN, "--access-log", log)
    read_table(s)
    r = s.post("run", {"ms": 20}, headers={"traceparent": TRACEPARENT})
    assert r.status == 200, r
    deadline = time.monotonic() + 5
    while len(read_log(log)) < 7 and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = read_log(log)
    # Front (server) -> client to Middle -> Middle (server) -> client to Back -> Back (server),
    # and Front -> client to Back -> Back (server): 7 spans.
    assert len(lines) == 7, lines
    assert {l["trace_id"] for l in lines} == {TRACE_ID}
    by_id = {l["span_id"]: l for l in lines}
    assert len(by_id) == 7
    servers = [l for l in lines if l["kind"] == "server"]
    clients = [l for l in lines if l["kind"] == "client"]
    front = [l for l in servers if l["service"] == "Front"]
    assert len(front) == 1 and front[0]["parent_id"] == "b7ad6b7169203331"
    front = front[0]
    assert TP_RE.match(r.headers["traceparent"]).group(2) == front["span_id"]
    for c in clients:  # each call is a child of its caller's server span ...
        parent = by_id[c["parent_id"]]
        assert parent["kind"] == "server" and parent["service"] == c["service"]
        callee = [l for l in servers if l["parent_id"] == c["span_id"]]
        assert len(callee) == 1 and callee[0]["service"] == c["dependency"]  # ... and a parent
        assert callee[0]["api"] == c["api"] and c["status"] == callee[0]["status"] == 200
        # Timings add up: a call lasts at least as long as its callee took.
        assert c["duration_us"] >= callee[0]["duration_us"]
    assert all(l["status"] == 200 for l in lines)
    front_calls = [c for c in clients if c["parent_id"] == front["span_id"]]
    assert sorted(c["dependency"] for c in front_calls) == ["Back", "Middle"]
    # Front called Middle then Back, one after the other: its time covers both.
    assert front["duration_us"] >= sum(c["duration_us"] for c in front_calls)
    assert front["duration_us"] >= 2 * 20000
    # Middle's span is the grandparent of a Back span.
    middle = [l for l in servers if l["service"] == "Middle"][0]
    assert by_id[middle["parent_id"]]["parent_id"] == front["span_id"]
    # Server-Timing names each dependency call with the durations the log has.
    timing = dict(re.findall(r"([A-Za-z.]+);dur=([0-9.]+)", r.headers["server-timing"]))
    assert set(timing) == {"Middle.relay", "Back.work", "total"}
    for c in front_calls:
        assert abs(float(timing[c["dependency"] + "." + c["api"]]) - c["duration_us"] / 1000) < 0.01
    assert abs(float(timing["total"]) - front["duration_us"] / 1000) < 0.01


def test_graph_metrics_cover_every_worker_and_restarts(make_server, tmp_path):
    s = make_server(CHAIN, "--workers", "Back=2", "--socket-dir", str(tmp_path / "s"))
    table, _ = read_table(s)
    for _ in range(10):
        assert s.post("run", {"ms": 0}).status == 200
    text = scrape(s)
    assert value(text, "tiffin_http_requests_total", service="Front", api="run", code="200") == 10
    assert value(text, "tiffin_http_requests_total", service="Middle", code="200") == 10
    assert value(text, "tiffin_http_requests_total", service="Back", code="200") == 20
    assert value(text, "tiffin_dependency_calls_total", service="Front", dependency="Back",
                 api="work", code="200") == 10
    assert value(text, "tiffin_dependency_call_duration_seconds_count", service="Front") == 20
    for worker in ("0", "1"):  # every worker has its series, used or not
        assert ("tiffin_worker_restarts_total", frozenset(
            {("service", "Back"), ("worker", worker)})) in samples(text)
    # A dependency worker dies: the supervisor counts the restart; counts survive it.
    pid = table["Back"]["rows"][1]["pid"]
    sock = str(tmp_path / "s" / "Back.sock")
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = scrape(s)
        if value(text, "tiffin_worker_restarts_total", service="Back", worker="1") == 1:
            break
        time.sleep(0.05)
    assert value(text, "tiffin_worker_restarts_total", service="Back", worker="1") == 1
    assert value(text, "tiffin_worker_restarts_total", service="Back", worker="0") == 0
    assert value(text, "tiffin_http_requests_total", service="Back", code="200") == 20
    assert os.path.exists(sock)


def test_service_mode_serves_its_own_metrics(make_server):
    s = make_server(CHAIN, "--service", "Back")
    assert s.post("work", {"ms": 0}).status == 200
    text = scrape(s)
    assert value(text, "tiffin_http_requests_total", service="Back", code="200") == 1
    assert 'service="Front"' not in text and 'service="Middle"' not in text


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def promql(port, query):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(query))
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_prometheus_scrapes_the_graph(make_server, tmp_path):
    assert PROMETHEUS, "prometheus is missing: scripts/install-deps.sh test installs it"
    s = make_server(SEQUENTIAL)
    read_table(s)
    sent = 37
    body = {"values": [0.1, 0.4, 0.35, 0.8]}
    for _ in range(sent):
        assert s.post("classify", body).status == 200
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n"
        "scrape_configs:\n  - job_name: tiffin\n    static_configs:\n"
        "      - targets: ['127.0.0.1:%d']\n" % s.port)
    log = open(tmp_path / "prometheus.log", "w")
    prom = subprocess.Popen(
        [PROMETHEUS, "--config.file", str(config), "--storage.tsdb.path", str(tmp_path / "data"),
         "--web.listen-address", "127.0.0.1:%d" % port, "--log.level", "warn"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        want = {'sum(tiffin_http_requests_total{service="Pipeline",api="classify",code="200"})':
                sent,
                'sum(tiffin_http_requests_total{service="InferenceModel"})': sent,
                'sum(tiffin_dependency_calls_total{service="Pipeline"})': 3 * sent,
                'up{job="tiffin"}': 1}
        got = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and got != want:
            time.sleep(0.3)
            try:
                for q in want:
                    r = promql(port, q)
                    assert r["status"] == "success"
                    res = r["data"]["result"]
                    got[q] = float(res[0]["value"][1]) if res else None
            except OSError:  # not listening yet
                continue
        assert got == want, open(tmp_path / "prometheus.log").read()
    finally:
        prom.send_signal(signal.SIGTERM)
        try:
            prom.wait(20)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
        log.close()


def test_batches_are_in_metrics(make_server):
    """Adaptive batching reports each batch: tiffin_batch_size counts rows per batch, and
    tiffin_batch_queue_wait_seconds the wait of its oldest request (promtool-checked)."""
    import concurrent.futures
    s = make_server(os.path.join(BUILD, "tests", "integration", "batchsvc"),
                    env={"BATCHSVC_SLEEP_MS": "30"})

    def one(i):
        r = s.post("double", {"x": [[float(i), 1.0, 2.0]]})
        assert r.status == 200, r
        return json.loads(r.body)["batch_id"]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        batches = set(pool.map(one, range(16)))
    text = scrape(s)
    assert value(text, "tiffin_batch_size_count", api="double") == len(batches)
    assert value(text, "tiffin_batch_size_sum", api="double") == 16
    assert value(text, "tiffin_batch_queue_wait_seconds_count", api="double") == len(batches)
