"""HTTP conformance and hardening, checked with real tools where there are some (ApacheBench,
curl): HTTP/1.0 keep-alive, 501 for methods HTTP does not have, 405 with Allow, HEAD, 431/414 for
oversized heads, the deadline for a whole request head, and the cap on open connections."""
import json
import shutil
import socket
import subprocess
import time

import pytest
from conftest import TESTSVC


def _read_all(c, timeout=5):
    c.settimeout(timeout)
    chunks = []
    while True:
        try:
            d = c.recv(65536)
        except ConnectionResetError:
            break
        if not d:
            break
        chunks.append(d)
    return b"".join(chunks)


def test_http10_keep_alive_is_acknowledged(svc):
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as c:
        for _ in range(3):  # one connection, three requests: the server kept it open
            c.sendall(b"GET /livez HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            data = b""
            while b"}" not in data:
                data += c.recv(4096)
            head = data.split(b"\r\n\r\n")[0].lower()
            assert b"\r\nconnection: keep-alive" in head, data
    out = svc.raw(b"GET /livez HTTP/1.0\r\n\r\n")  # plain 1.0: answered, then closed
    assert out.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in out


@pytest.mark.skipif(not shutil.which("ab"), reason="ab (apache2-utils) is not installed")
def test_apachebench_keep_alive_completes(svc):
    t0 = time.monotonic()
    out = subprocess.run(["ab", "-k", "-n", "500", "-c", "4", "-s", "10",
                          "http://127.0.0.1:%d/livez" % svc.port],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Complete requests:      500" in out.stdout, out.stdout
    assert "Failed requests:        0" in out.stdout, out.stdout
    assert "Keep-Alive requests:    500" in out.stdout, out.stdout
    assert time.monotonic() - t0 < 30
    # and POST with a body
    body = "/tmp/tiffin-ab-%d.json" % svc.port
    with open(body, "w") as f:
        json.dump({"value": [1, 2, 3]}, f)
    out = subprocess.run(["ab", "-k", "-n", "200", "-c", "2", "-s", "10", "-p", body,
                          "-T", "application/json", "http://127.0.0.1:%d/echo" % svc.port],
                         capture_output=True, text=True, timeout=60)
    assert "Complete requests:      200" in out.stdout and "Non-2xx" not in out.stdout, out.stdout


def test_unknown_method_is_501_known_is_405(svc):
    for method in [b"BREW", b"FOO"]:  # not HTTP at all (http-parser rejects them)
        out = svc.raw(method + b" /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 501 "), out
        assert json.loads(out.partition(b"\r\n\r\n")[2])["code"] == "ENOTIMPL"
    out = svc.raw(b"PROPFIND /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")  # WebDAV
    assert out.startswith(b"HTTP/1.1 501 "), out
    for method, path, allow in [("PUT", "/echo", "POST"), ("PATCH", "/echo", "POST"),
                                ("OPTIONS", "/livez", "GET, HEAD"), ("DELETE", "/", "GET, HEAD")]:
        r = svc.request(method, path)
        assert r.status == 405 and r.headers["allow"] == allow, (method, r)
        assert r.json()["code"] == "EMETHOD"


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_head_has_the_headers_of_get_and_no_body(svc):
    out = subprocess.run(["curl", "-sS", "-I", "http://127.0.0.1:%d/healthz" % svc.port],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stdout.startswith("HTTP/1.1 200"), out
    assert "Content-Length: " in out.stdout
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as c:
        c.sendall(b"HEAD /livez HTTP/1.1\r\nHost: x\r\n\r\nGET /livez HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        out = _read_all(c)
    first, _, rest = out.partition(b"\r\n\r\n")
    assert b"Content-Length: 18" in first
    assert rest.startswith(b"HTTP/1.1 200 ") and rest.endswith(b'{"status":"alive"}'), out


def test_header_value_too_long_is_431(svc):
    out = svc.raw(b"POST /echo HTTP/1.1\r\nContent-Type: " + b"a" * 2000 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431 "), out
    out = svc.raw(b"GET /livez HTTP/1.1\r\n" + b"X-A: b\r\n" * 20000 + b"\r\n")
    assert out.startswith(b"HTTP/1.1 431 "), out[:100]


def test_head_trickling_in_hits_the_head_deadline(make_server):
    # One byte every 100 ms keeps the read timeout (2 s) from firing, but the whole head must
    # arrive within 800 ms.
    s = make_server(TESTSVC, "--read-timeout", "2000", "--head-timeout", "800")
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", s.port)) as c:
        c.settimeout(0.1)
        head = b"GET /livez HTTP/1.1\r\nX-Slow: " + b"a" * 100
        out = b""
        for byte in head:
            try:
                c.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                out += c.recv(4096)
            except socket.timeout:
                continue
            if out:
                break
        out += _read_all(c)
    took = time.monotonic() - t0
    assert out.startswith(b"HTTP/1.1 408 "), out
    assert "head" in json.loads(out.partition(b"\r\n\r\n")[2])["error"]
    assert 0.7 < took < 2.0, took
    assert s.get("/livez").status == 200


def test_connection_cap_refuses_with_503_and_logs(make_server):
    s = make_server(TESTSVC, "--max-connections", "4")
    held = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(4)]
    try:
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
            out = _read_all(c)
        assert out.startswith(b"HTTP/1.1 503 "), out
        assert b"Retry-After: 1" in out
        assert "too many open connections" in json.loads(out.partition(b"\r\n\r\n")[2])["error"]
    finally:
        for h in held:
            h.close()
    time.sleep(0.3)
    assert s.get("/livez").status == 200  # room again
    assert "the cap of 4 per worker is reached" in s.stderr()
