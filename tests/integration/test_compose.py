"""Service composition over real sockets: the three examples served as multi-process graphs, and
calls between services (tests/integration/composesvc.c): parallel calls, errors that name the
failing service, deadlines that travel downstream, a dependency that is down, and a dependency
worker that crashes while the caller's pool holds connections to it."""
import json
import os
import time

import pytest

from conftest import BUILD, Server

EXAMPLES = os.path.join(BUILD, "examples")
COMPOSE = os.path.join(BUILD, "tests", "integration", "composesvc")


def children(pid):
    """Pids of the direct children of `pid`."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


# ---- the three examples, each served as a graph of processes -------------------------------------

def test_sequential_pipeline(make_server):
    s = make_server(os.path.join(EXAMPLES, "sequential"))
    assert len(children(s.proc.pid)) == 4  # Preprocessing, InferenceModel, Postprocessing, Pipeline
    r = s.post("classify", {"values": [0.9, 0.95, 1.0]})
    assert r.status == 200, r
    assert r.json()["label"] == "high" and 0.5 < r.json()["confidence"] <= 1
    r = s.post("classify", {"values": []})  # refused by the step that validates it
    assert r.status == 400
    assert r.json()["service"] == "Preprocessing" and r.json()["code"] == "EINVAL"
    r = s.post("classify", {"values": "nope"})  # refused by the entry's declared input
    assert r.status == 400 and r.json()["code"] == "ETYPE" and r.json()["service"] == "Pipeline"


def test_parallel_ensemble(make_server):
    s = make_server(os.path.join(EXAMPLES, "ensemble"))
    r = s.post("classify", {"values": [0.0, 0.1, 0.05]})
    assert r.status == 200, r
    body = r.json()
    assert body["label"] == "low"
    assert set(body["votes"]) == {"ModelA", "ModelB"} and body["missing"] == []


def test_mixed_dag(make_server):
    s = make_server(os.path.join(EXAMPLES, "dag"))
    image = [[(r * 8 + c) % 3 / 2 for c in range(8)] for r in range(8)]
    r = s.post("search", {"text": "red running shoes", "image": image, "top": 2})
    assert r.status == 200, r
    body = r.json()
    assert len(body["results"]) == 2 and body["degraded"] == []
    assert body["results"][0]["score"] >= body["results"][1]["score"]
    again = s.post("search", {"text": "red running shoes", "image": image, "top": 2}).json()
    assert again == body


# ---- calls between services ---------------------------------------------------------------------

@pytest.fixture
def front(make_server):
    return make_server(COMPOSE)


def test_parallel_calls_overlap(front):
    r = front.post("gather", {"ms": 200})
    assert r.status == 200, r
    assert 190 <= r.json()["ms"] < 350, r.json()  # about 200, not 400


def test_dependency_error_names_where_it_failed(front):
    r = front.post("forward", {"api": "fail", "input": {}})
    assert r.status == 400
    assert r.json() == {"error": "I refuse", "code": "EINVAL", "status": 400, "service": "Slow",
                        "api": "fail"}
    r = front.post("degrade")  # the caller catches it and falls back
    assert r.status == 200
    assert r.json() == {"fallback": True, "code": "EINVAL", "status": 400, "service": "Slow",
                        "api": "fail", "message": "I refuse"}
    r = front.post("forward", {"api": "nope", "input": {}})
    assert r.status == 404 and r.json()["service"] == "Slow"


def test_call_timeout(front):
    t0 = time.monotonic()
    r = front.post("forward", {"api": "sleep", "input": {"ms": 3000}, "timeout_ms": 200})
    took = time.monotonic() - t0
    assert r.status == 504 and r.json()["code"] == "ETIMEOUT", r
    assert took < 1.5


def test_deadline_travels_downstream(front):
    # The client gives the entry 300 ms; the entry passes what is left on to Slow, which gives up
    # too (its own timeout is 10 s): Slow answers 504 itself, not a late 200.
    t0 = time.monotonic()
    r = front.post("forward", {"api": "sleep", "input": {"ms": 3000}},
                   headers={"X-Tiffin-Deadline-Ms": "300"})
    took = time.monotonic() - t0
    assert r.status == 504, r
    assert took < 1.5
    assert front.post("forward", {"api": "echo", "input": {"x": 1}}).json() == {"x": 1}
    r = front.post("forward", {"api": "echo", "input": {}}, headers={"X-Tiffin-Deadline-Ms": "x"})
    assert r.status == 400 and r.json()["code"] == "EBADHTTP"


def test_tensors_cross_the_hop(front):
    t = [[i * 0.25 + j for j in range(4)] for i in range(3)]
    r = front.post("forward", {"api": "echo", "input": {"x": t}})
    assert r.status == 200 and r.json() == {"x": t}


def test_dependency_down_is_a_quick_503(make_server, tmp_path):
    gone = str(tmp_path / "gone.sock")
    s = make_server(COMPOSE, "--service", "Front", "--depends", f"Slow=unix:{gone}",
                    "--depends", f"Other=unix:{gone}", wait_ready=False)
    time.sleep(0.3)
    r = s.get("/readyz")
    assert r.status == 503 and "dependency 'Slow' is not ready" in r.json()["error"], r
    t0 = time.monotonic()
    r = s.post("forward", {"api": "echo", "input": {}})
    assert time.monotonic() - t0 < 1
    assert r.status == 503 and r.json()["code"] == "ECONNECT" and r.json()["service"] == "Slow"
    assert s.get("/livez").status == 200


def test_one_service_alone_with_depends(make_server, tmp_path):
    sock = str(tmp_path / "slow.sock")
    dep = make_server(COMPOSE, "--service", "Slow", unix=sock, tcp=False)
    entry = make_server(COMPOSE, "--service", "Front", "--depends", f"Slow=unix:{sock}",
                        "--depends", f"Other=unix:{sock}")
    assert entry.post("forward", {"api": "echo", "input": {"x": "hi"}}).json() == {"x": "hi"}
    assert entry.post("gather", {"ms": 50}).status == 200
    dep.stop()
    deadline = time.monotonic() + 3
    while entry.get("/readyz").status != 503:  # the entry notices within its probe interval
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert entry.post("forward", {"api": "echo", "input": {}}).status == 503


def test_crashed_dependency_leaves_no_dead_connections(front):
    pid = front.post("forward", {"api": "pid", "input": {}}).json()["pid"]
    for _ in range(20):  # warm the pool: several connections to Slow
        assert front.post("gather", {"ms": 1}).status == 200
    r = front.post("forward", {"api": "crash", "input": {}})
    assert r.status == 502 and r.json()["service"] == "Slow", r
    # The supervisor restarts Slow; meanwhile calls fail cleanly (503), never hang.
    deadline = time.monotonic() + 5
    while True:
        r = front.post("forward", {"api": "pid", "input": {}}, timeout=5)
        if r.status == 200:
            break
        assert r.status in (502, 503), r
        assert time.monotonic() < deadline, "Slow did not come back"
        time.sleep(0.05)
    assert r.json()["pid"] != pid
    for _ in range(50):  # every pooled connection to the dead worker is gone
        r = front.post("forward", {"api": "echo", "input": {"x": 1}})
        assert r.status == 200, r


# ---- a dependency that is not a tiffin program (JSON both ways) ---------------------------------

JSONDEP = os.path.join(BUILD, "tests", "integration", "jsondep")


@pytest.fixture
def json_service():
    """A plain JSON-over-HTTP service, as BentoML serves one: POST /scale {"x": [...], "k"}
    answers {"y": [...]}; POST /fail answers 500 with a body that is not a tiffin error. It
    records the Content-Type of each call."""
    import http.server
    import threading

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.reply(200 if self.path == "/readyz" else 404, {})

        def do_POST(self):
            data = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers["Content-Type"])
            if self.path == "/scale":
                req = json.loads(data)
                self.reply(200, {"y": [v * req["k"] for v in req["x"]]})
            else:
                self.reply(500, {"detail": "model exploded"})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.seen = seen
    yield server
    server.shutdown()
    server.server_close()


def test_json_dependency(make_server, json_service):
    url = "http://127.0.0.1:%d" % json_service.server_address[1]
    s = make_server(JSONDEP, "--depends", f"Ext={url}")
    r = s.post("scale", {"x": [1, 2.5, -3], "k": 2})
    assert r.status == 200 and r.json() == {"y": [2.0, 5.0, -6.0]}, r
    assert json_service.seen == ["application/json"]  # JSON went out, not the binary encoding
    r = s.post("fail")
    assert r.status == 500, r
    body = r.json()
    assert body["code"] == "EDEPENDENCY" and body["service"] == "Ext" and body["api"] == "fail"
    assert "HTTP 500" in body["error"] and "model exploded" in body["error"]
