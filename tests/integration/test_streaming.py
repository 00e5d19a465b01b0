"""Streaming over real sockets: examples/streaming under `serve` (Tokenizer -> Generator ->
Detokenizer, one process each) read with `curl -N` as the pieces come, server-sent events with an
error event mid-stream, and back-pressure through a relay (streamsvc: Relay -> Firehose)."""
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import BUILD

STREAMING = os.path.join(BUILD, "examples", "streaming")
STREAMSVC = os.path.join(BUILD, "tests", "integration", "streamsvc")


def read_ready(s):
    while True:
        line = s.proc.stdout.readline().decode()
        assert line, s.stderr()
        if line.strip() == "ready":
            return


@pytest.fixture
def pipeline(make_server):
    s = make_server(STREAMING, wait_ready=False)
    read_ready(s)
    s.wait_ready()
    return s


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_reads_the_pieces_as_they_come(pipeline):
    body = json.dumps({"prompt": "the cat", "max_tokens": 6, "delay_ms": 150})
    curl = subprocess.Popen(["curl", "-sSN", "--no-buffer", "-H", "Content-Type: application/json",
                             "-d", body, "http://127.0.0.1:%d/generate" % pipeline.port],
                            stdout=subprocess.PIPE)
    start = time.monotonic()
    arrivals, text = [], b""
    while True:
        chunk = os.read(curl.stdout.fileno(), 4096)
        if not chunk:
            break
        arrivals.append(time.monotonic() - start)
        text += chunk
    assert curl.wait(10) == 0
    curl.stdout.close()
    assert text.decode() == "sat a flew saw bird mat"
    # Six tokens 150 ms apart arrive in several reads, the first long before the last.
    assert len(arrivals) >= 4, arrivals
    assert arrivals[-1] - arrivals[0] >= 0.5, arrivals


def sse_events(raw):
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        ev = {"event": "message", "data": []}
        for line in block.split("\n"):
            k, _, v = line.partition(": ")
            if k == "event":
                ev["event"] = v
            elif k == "data":
                ev["data"].append(v)
        ev["data"] = json.loads("\n".join(ev["data"]))
        events.append(ev)
    return events


def test_server_sent_events_end_with_the_error_event(pipeline):
    r = pipeline.post("generate", {"prompt": "the cat", "max_tokens": 5, "fail_at": 2,
                                   "delay_ms": 1}, headers={"Accept": "text/event-stream"})
    assert r.status == 200
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["transfer-encoding"] == "chunked"
    ev = sse_events(r.body)
    assert [e["data"] for e in ev[:2]] == ["sat", " a"]
    assert ev[2]["event"] == "error"
    assert ev[2]["data"]["code"] == "EHANDLER" and ev[2]["data"]["service"] == "Generator"
    assert ev[2]["data"]["error"] == "the generator failed at token 2"
    assert len(ev) == 3
    # The connection is still good for the next request.
    r = pipeline.post("generate", {"prompt": "the", "max_tokens": 2, "delay_ms": 0})
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain")


def test_failure_before_the_first_piece_is_an_ordinary_error(pipeline):
    r = pipeline.post("generate", {"prompt": "x", "fail_at": 0})
    assert r.status == 500 and r.json()["service"] == "Generator"
    r = pipeline.post("generate", {"prompt": 3})
    assert r.status == 400 and r.json()["code"] == "ETYPE"


def test_json_lines_for_non_text_output_and_http10(make_server):
    s = make_server(STREAMSVC, wait_ready=False)
    read_ready(s)
    s.wait_ready()
    r = s.post("relay", {"n": 3, "size": 2})
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.body == b"xxxxxx"
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        body = b'{"n": 2, "size": 3}'
        c.sendall(b"POST /relay HTTP/1.0\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        data = b""
        while (got := c.recv(65536)):
            data += got
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"Connection: close" in head
    assert rest == b"xxxxxx"


def test_slow_client_holds_the_producer_and_memory_stays_bounded(make_server):
    """Nobody reads: the producer two hops away must stop far short of its 40 MB, then finish
    once the client reads; a client that goes away stops it."""
    s = make_server(STREAMSVC, wait_ready=False)
    read_ready(s)
    s.wait_ready()
    n, size = 40000, 1024
    c = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    body = json.dumps({"n": n, "size": size}).encode()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.sendall(b"POST /relay HTTP/1.1\r\nContent-Type: application/json\r\nAccept: "
              b"text/event-stream\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    time.sleep(1.5)
    held = s.post("produced", {}).json()
    assert held["finished_with"] == 0
    assert 0 < held["produced"] * size < 12 << 20, held  # buffers and socket buffers only
    time.sleep(0.5)
    assert s.post("produced", {}).json()["produced"] == held["produced"]  # it waits
    total = 0
    data = b""
    while not data.endswith(b"0\r\n\r\n"):
        got = c.recv(1 << 20)
        assert got
        data += got[-16:] if len(data) > 64 else got
        total += got.count(b"data: ")
        data = data[-16:]
    assert s.post("produced", {}).json() == {"produced": n, "finished_with": 1}
    c.close()

    # A client that goes away mid-stream: the producer sees it and stops.
    c = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    c.sendall(b"POST /relay HTTP/1.1\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    c.recv(4096)
    c.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        p = s.post("produced", {}).json()
        if p["finished_with"] != 0:
            break
        time.sleep(0.1)
    assert p["finished_with"] < 0 and p["produced"] < n, p
    assert s.get("/healthz").json()["in_flight"] == 0
