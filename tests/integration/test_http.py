"""HTTP behaviour of a single service: good input, every kind of bad input, limits, keep-alive
and pipelining. Each bad input must get the right 4xx/5xx with a JSON error body, and the server
must keep serving afterwards."""
import json
import socket
import threading
import time

import pytest
from conftest import TESTSVC


def assert_error(r, status, code, fragment=""):
    assert r.status == status, r
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert isinstance(body["error"], str) and body["error"], body
    assert fragment in body["error"], body
    return body


def assert_alive(svc):
    r = svc.get("/livez")
    assert r.status == 200 and r.json() == {"status": "alive"}


# ---- operational endpoints ------------------------------------------------------------------

def test_livez_readyz_healthz(svc):
    assert_alive(svc)
    assert svc.get("/readyz").json() == {"status": "ready"}
    h = svc.get("/healthz").json()
    assert h["status"] == "ok" and h["service"] == "TestSvc" and h["ready"] is True
    assert h["in_flight"] == 0 and h["pid"] == svc.proc.pid


def test_index_lists_apis(svc):
    body = svc.get("/").json()
    assert body["service"] == "TestSvc" and "typed" in body["apis"]


def test_docs_json_is_valid_openapi(svc):
    from openapi_spec_validator import validate

    doc = svc.get("/docs.json").json()
    validate(doc)
    assert "/typed" in doc["paths"] and doc["info"]["title"] == "TestSvc"


# ---- good input -----------------------------------------------------------------------------

def test_typed_inputs_arrive_converted(svc):
    r = svc.post("typed", {"i": 41, "f": 2, "s": "héllo \"q\"", "b": False,
                           "t": [[1, 2.5, 3], [4, 5, 6]]})
    assert r.status == 200, r
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"i": 42, "f": 2.0, "s": "héllo \"q\"", "b": True, "t_sum": 21.5,
                        "t_dtype": "float32", "has_opt": False}


def test_optional_field(svc):
    r = svc.post("typed", {"i": 1, "f": 1.5, "s": "", "b": True, "t": [[1], [2]], "opt": []})
    assert r.status == 200 and r.json()["has_opt"] is True


@pytest.mark.parametrize("value", [
    0.1, -0.0, 1e-320, 1.7976931348623157e308, 5e-324, 123456789.123456789, 2.0,
    9007199254740993, -9223372036854775808, 9223372036854775807,
    "unicode ☃ \u0001 \\ \"", True, None, [], {}, [1, [2, [3.5, None]], {"a": {"b": []}}],
])
def test_values_round_trip_exactly(svc, value):
    r = svc.post("echo_value", raw=json.dumps({"value": value}))
    assert r.status == 200, r
    out = json.loads(r.body)
    assert out == value and type(out) is type(value)
    if isinstance(value, float):
        assert repr(out) == repr(value)  # bit-exact, sign of zero included


def test_query_string_is_ignored(svc):
    r = svc.request("POST", "/echo?x=1", body="{}", headers={"Content-Type": "application/json"})
    assert r.status == 200 and r.json() == {}


def test_content_type_with_charset(svc):
    r = svc.post("echo", {"value": 1}, content_type="application/json; charset=utf-8")
    assert r.status == 200 and r.json() == {"value": 1}


def test_bare_post_without_body_means_no_inputs(svc):
    r = svc.request("POST", "/echo")
    assert r.status == 200 and r.json() == {}


def test_large_json_tensor(svc):
    n = 200_000
    r = svc.post("big", {"n": n}, timeout=30)
    assert r.status == 200
    out = r.json()
    assert len(out) == n and out[3] == 1.5 and out[-1] == (n - 1) * 0.5


# ---- bad input: each gets a clear 4xx and the server keeps serving ---------------------------

def test_malformed_http(svc):
    for garbage in [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                    b"POST /echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                    b"\x00\x01\x02\x03\r\n\r\n"]:
        out = svc.raw(garbage)
        head, _, body = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), out
        assert json.loads(body)["code"] in ("EBADHTTP",), out
    assert_alive(svc)


def test_invalid_json(svc):
    body = assert_error(svc.post("echo", raw='{"value": [1, 2'), 400, "EBADJSON")
    assert "line 1" in body["error"]
    assert_error(svc.post("echo", raw='{"value": 1} trailing'), 400, "EBADJSON")
    assert_error(svc.post("echo", raw='{"a": 1, "a": 2}'), 400, "EBADJSON")
    assert_error(svc.post("echo", raw=b'{"value": "\xff\xfe"}'), 400, "EBADJSON")
    assert_alive(svc)


def test_input_must_be_an_object(svc):
    assert_error(svc.post("echo", raw="[1, 2]"), 400, "ETYPE")


def test_missing_field(svc):
    assert_error(svc.post("typed", {"i": 1}), 400, "EMISSING", "'f'")


def test_wrong_types(svc):
    good = {"i": 1, "f": 1.0, "s": "x", "b": True, "t": [[1], [2]]}
    for field, bad in [("i", 1.5), ("i", "1"), ("f", "1.0"), ("s", 3), ("b", 1),
                       ("t", "tensor"), ("t", [[1, 2], [3]]), ("t", [[1], ["x"]]),
                       ("t", [1, 2]), ("t", [[1], [2], [3]]), ("opt", {})]:
        r = svc.post("typed", dict(good, **{field: bad}))
        assert_error(r, 400, "ETYPE", "'%s'" % field)
    assert_alive(svc)


def test_unknown_field(svc):
    assert_error(svc.post("echo", {"value": 1, "typo": 2}), 400, "EINVAL", "'typo'")


def test_unknown_api(svc):
    assert_error(svc.post("nope", {}), 404, "ENOTFOUND", "/nope")
    assert_error(svc.get("/docs"), 404, "ENOTFOUND")


def test_wrong_method(svc):
    r = svc.get("/typed")
    assert_error(r, 405, "EMETHOD")
    assert r.headers["allow"] == "POST"
    r = svc.request("POST", "/livez", body="{}")
    assert_error(r, 405, "EMETHOD")
    assert r.headers["allow"] == "GET, HEAD"
    assert_error(svc.request("DELETE", "/echo"), 405, "EMETHOD")


def test_wrong_content_type(svc):
    assert_error(svc.post("echo", raw="value=1", content_type="application/x-www-form-urlencoded"),
                 415, "EMEDIATYPE", "application/json")
    assert_error(svc.post("echo", raw="{}", content_type=None), 415, "EMEDIATYPE")
    assert_error(svc.post("echo", raw="{}", content_type="text/json"), 415, "EMEDIATYPE")


def test_body_over_limit_with_content_length(svc):
    big = b'{"value": "' + b"x" * (2 << 20) + b'"}'  # TestSvc's limit is 1 MiB
    assert_error(svc.post("echo", raw=big), 413, "ETOOBIG", "1048576")
    assert_alive(svc)


def test_body_over_limit_chunked(svc):
    chunk = b"x" * 65536
    req = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" \
          b"Transfer-Encoding: chunked\r\n\r\n"
    req += (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 20 + b"0\r\n\r\n"
    out = svc.raw(req, timeout=10)
    assert out.startswith(b"HTTP/1.1 413 "), out[:200]
    assert_alive(svc)


def test_chunked_body_within_limit(svc):
    req = (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           b"5\r\n{\"val\r\n8\r\nue\": 7}\n\r\n0\r\n\r\n")
    out = svc.raw(req)
    assert out.startswith(b"HTTP/1.1 200 "), out
    assert json.loads(out.partition(b"\r\n\r\n")[2]) == {"value": 7}


def test_oversized_head(svc):
    req = b"GET /livez HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n"
    out = svc.raw(req)
    assert out.startswith(b"HTTP/1.1 431 "), out[:200]
    assert json.loads(out.partition(b"\r\n\r\n")[2])["code"] == "EHEADTOOBIG"
    req = b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n"
    assert svc.raw(req).startswith(b"HTTP/1.1 414 ")
    assert_alive(svc)


def test_expect_100_continue(svc):
    body = json.dumps({"value": "y" * 2000}).encode()
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        interim = s.recv(100)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        s.sendall(body)
        data = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        while b"}" not in data.split(b"\r\n\r\n", 1)[-1] or b"\r\n\r\n" not in data:
            data += s.recv(65536)
        assert data.startswith(b"HTTP/1.1 200 ")


# ---- handler failures -----------------------------------------------------------------------

def test_handler_error_is_500_with_message(svc):
    body = assert_error(svc.post("fail"), 500, "EHANDLER", "exploded on purpose")
    assert body["service"] == "TestSvc" and body["api"] == "fail"


def test_handler_rejecting_input_is_400(svc):
    assert_error(svc.post("reject"), 400, "EINVAL", "unacceptable")


def test_output_not_matching_declaration_is_500(svc):
    assert_error(svc.post("bad_output"), 500, "EOUTPUT", "object")


def test_foreign_error_code_is_500(svc):
    assert_error(svc.post("raw_code"), 500, "EHANDLER")
    assert_alive(svc)


def test_timeout_is_504_and_slot_stays_counted(svc):
    t0 = time.monotonic()
    body = assert_error(svc.post("sleep", {"ms": 3000}), 504, "ETIMEOUT", "2000 ms")
    elapsed = time.monotonic() - t0
    assert 1.9 < elapsed < 2.9, elapsed
    assert body["api"] == "sleep"
    # The handler is still running: its slot stays counted until it really returns.
    assert svc.get("/healthz").json()["in_flight"] == 1
    time.sleep(1.3)
    assert svc.get("/healthz").json()["in_flight"] == 0


def test_loop_handler_past_its_deadline_is_504(make_server):
    # A handler computing on the loop keeps the deadline timer from firing; it is late anyway.
    s = make_server(TESTSVC, "--timeout", "100")
    assert_error(s.post("spin", {"ms": 300}), 504, "ETIMEOUT", "100 ms")
    assert s.post("spin", {"ms": 10}).status == 200


def test_max_concurrency_is_429(make_server):
    s = make_server(TESTSVC, "--max-concurrency", "2")
    results = []

    def slow():
        results.append(s.post("sleep", {"ms": 700}).status)

    threads = [threading.Thread(target=slow) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while s.get("/healthz").json()["in_flight"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    r = s.post("sleep", {"ms": 1})
    assert time.monotonic() - t0 < 0.3  # rejected at once, not queued
    assert_error(r, 429, "EBUSY", "2 concurrent")
    assert r.headers["retry-after"] == "1"
    for t in threads:
        t.join()
    assert results == [200, 200]
    assert s.post("sleep", {"ms": 1}).status == 200


# ---- connections ----------------------------------------------------------------------------

def test_keep_alive_reuses_the_connection(svc):
    conn = svc.connection()
    for i in range(50):
        conn.request("POST", "/echo", body=json.dumps({"value": i}),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read()) == {"value": i}
    conn.close()


def test_pipelining_answers_in_order(svc):
    reqs = b""
    for i in range(5):
        body = json.dumps({"value": i}).encode()
        reqs += (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body)) + body
    reqs += b"GET /livez HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    out = svc.raw(reqs)
    parts = out.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert len(parts) == 6, out
    for i in range(5):
        assert parts[i].endswith(json.dumps({"value": i}, separators=(",", ":")).encode()), parts
    assert b"alive" in parts[5]


def test_pipelined_request_after_thread_handler(svc):
    """A pipelined request waits for the slow one before it; answers stay in order."""
    reqs = (b"POST /sleep HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 11\r\n\r\n{\"ms\": 200}"
            b"GET /livez HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    out = svc.raw(reqs)
    assert out.index(b"slept") < out.index(b"alive"), out


def test_client_disconnects_mid_request(svc):
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", svc.port)) as s:
            s.sendall(b"POST /echo HTTP/1.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{\"va")
    with socket.create_connection(("127.0.0.1", svc.port)) as s:  # gone while handler runs
        s.sendall(b"POST /sleep HTTP/1.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 11\r\n\r\n{\"ms\": 300}")
        time.sleep(0.05)
    time.sleep(0.4)
    assert_alive(svc)
    assert svc.get("/healthz").json()["in_flight"] == 0


def test_many_concurrent_connections(svc):
    socks = [socket.create_connection(("127.0.0.1", svc.port)) for _ in range(200)]
    for s in socks:
        s.sendall(b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
    for s in socks:
        assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
        s.close()


def test_client_gone_before_answer_does_not_kill_server(make_server, tmp_path):
    # The answer is written to a socket whose peer has closed: on a unix socket that write fails
    # with EPIPE at once, which must not be a fatal SIGPIPE.
    path = str(tmp_path / "svc.sock")
    s = make_server(TESTSVC, unix=path, tcp=False)
    body = b'{"ms": 100}'
    for _ in range(3):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)
        c.sendall(b"POST /sleep HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        c.close()
        time.sleep(0.2)
    assert s.get("/livez").status == 200


def _read_all(sock, timeout=3):
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            c = sock.recv(65536)
        except ConnectionResetError:
            break
        if not c:
            break
        chunks.append(c)
    return b"".join(chunks)


def test_stalled_request_is_408_and_closed(make_server):
    s = make_server(TESTSVC, "--read-timeout", "300", "--idle-timeout", "5000")
    for partial in [b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le",          # head stalls
                    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100\r\n\r\n{\"value\": "]:               # body stalls
        with socket.create_connection(("127.0.0.1", s.port)) as c:
            c.sendall(partial)
            t0 = time.monotonic()
            out = _read_all(c)
            took = time.monotonic() - t0
        head, _, body = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), out
        assert json.loads(body)["code"] == "EREQTIMEOUT"
        assert 0.25 < took < 2.5, took
    assert s.get("/livez").status == 200


def test_idle_keepalive_connection_is_closed(make_server):
    s = make_server(TESTSVC, "--idle-timeout", "300")
    with socket.create_connection(("127.0.0.1", s.port)) as c:
        c.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.1)
        first = c.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        t0 = time.monotonic()
        assert _read_all(c) == b""  # closed by the server, without a word
        assert 0.15 < time.monotonic() - t0 < 2.5


def test_slow_but_steady_client_is_not_cut_off(make_server):
    s = make_server(TESTSVC, "--read-timeout", "400")
    body = b'{"value": "' + b"x" * 20 + b'"}'
    req = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
    with socket.create_connection(("127.0.0.1", s.port)) as c:
        for i in range(0, len(req), 8):  # 8 bytes every 150 ms: ~1.5 s in all
            c.sendall(req[i:i + 8])
            time.sleep(0.15)
        out = _read_all(c)
    assert out.startswith(b"HTTP/1.1 200 "), out


def test_large_body_then_pipelined_request(svc):
    # A body over 64 KiB is read straight into its buffer; the request behind it on the same
    # connection must still be parsed from where the body ends.
    value = "v" * 300_000
    body = json.dumps({"value": value}).encode()
    first = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: %d\r\n\r\n" % len(body))
    second = b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", svc.port)) as c:
        c.sendall(first + body[:1000])
        time.sleep(0.05)
        for i in range(1000, len(body), 70_000):  # the rest in reads of several sizes
            c.sendall(body[i:i + 70_000])
            time.sleep(0.02)
        c.sendall(second)
        out = _read_all(c, timeout=5)
    head1, _, rest = out.partition(b"\r\n\r\n")
    assert head1.startswith(b"HTTP/1.1 200 "), out[:200]
    length = int([l for l in head1.split(b"\r\n") if l.lower().startswith(b"content-length")][0]
                 .split(b":")[1])
    assert json.loads(rest[:length]) == {"value": value}
    assert rest[length:].startswith(b"HTTP/1.1 200 ") and b'"alive"' in rest[length:]
