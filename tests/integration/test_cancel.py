"""Cancellation over real sockets (tests/integration/cancelsvc.c): when the client of the entry
goes away, or its deadline passes, the call in flight to the dependency is cancelled, the
dependency's thread handler sees tfn_ctx_cancelled and stops, and a request still waiting in the
dependency's queue never runs. No worker keeps computing for nobody."""
import json
import os
import socket
import time

from conftest import BUILD

CANCELSVC = os.path.join(BUILD, "tests", "integration", "cancelsvc")


def send_relay(server, ms, headers=b""):
    """Sends Front.relay on a raw socket and returns the socket (still open)."""
    body = json.dumps({"ms": ms}).encode()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"POST /relay HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" + headers +
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return s


def stats(server):
    r = server.post("stats", {})
    assert r.status == 200, r
    return r.json()


def wait_for(server, pred, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        st = stats(server)
        if pred(st) or time.monotonic() > deadline:
            return st
        time.sleep(0.05)


def test_client_disconnect_stops_the_dependency(make_server):
    s = make_server(CANCELSVC)
    sock = send_relay(s, 10000)
    st = wait_for(s, lambda st: st["running"] == 1)
    assert st["started"] == 1 and st["running"] == 1, st
    t0 = time.monotonic()
    sock.close()  # the client gives up
    st = wait_for(s, lambda st: st["running"] == 0)
    assert st == {"started": 1, "finished": 0, "stopped_early": 1, "running": 0}, st
    assert time.monotonic() - t0 < 3  # far sooner than the 10 s of work


def test_deadline_stops_the_dependency(make_server):
    s = make_server(CANCELSVC)
    sock = send_relay(s, 10000, headers=b"X-Tiffin-Deadline-Ms: 300\r\n")
    reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 504 "), reply
    sock.close()
    st = wait_for(s, lambda st: st["running"] == 0 and st["started"] == 1)
    assert st == {"started": 1, "finished": 0, "stopped_early": 1, "running": 0}, st


def test_queued_work_of_a_gone_caller_never_runs(make_server):
    s = make_server(CANCELSVC)
    # Work has one handler thread, and libuv's pool one more (for the init hook): two spins run,
    # the third waits in the pool's queue.
    running = [send_relay(s, 10000) for _ in range(2)]
    wait_for(s, lambda st: st["running"] == 2)
    queued = send_relay(s, 10000)
    time.sleep(0.3)
    queued.close()
    for sock in running:
        sock.close()
    wait_for(s, lambda st: st["running"] == 0)
    time.sleep(0.3)  # had the queued one been started, it would show now
    st = stats(s)
    assert st == {"started": 2, "finished": 0, "stopped_early": 2, "running": 0}, st


def test_work_that_is_awaited_still_finishes(make_server):
    s = make_server(CANCELSVC)
    r = s.post("relay", {"ms": 50})
    assert r.status == 200 and r.json() == {"ms": 50}, r
    assert stats(s) == {"started": 1, "finished": 1, "stopped_early": 0, "running": 0}
