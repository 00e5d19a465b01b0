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


def send_relay(server, ms, headers=b"", api=b"relay"):
    """Sends Front.relay (or `api`) on a raw socket and returns the socket (still open)."""
    body = json.dumps({"ms": ms}).encode()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"POST /" + api + b" HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" + headers +
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


# ---- a handler sleeping on the loop (tfn_sleep) ---------------------------------------------------

def napstats(server):
    r = server.post("napstats", {})
    assert r.status == 200, r
    return r.json()


def test_a_sleeping_handler_wakes_when_its_caller_goes_away(make_server):
    s = make_server(CANCELSVC)
    sock = send_relay(s, 10000, api=b"relay_nap")
    deadline = time.monotonic() + 5
    while napstats(s)["napping"] != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    sock.close()
    while napstats(s)["napping"] != 0 and time.monotonic() < t0 + 5:
        time.sleep(0.02)
    assert time.monotonic() - t0 < 3  # not the 10 s it asked for
    assert napstats(s) == {"napping": 0, "slept": 0, "timeout": 0, "cancelled": 1}


def test_a_sleep_cut_by_the_deadline_is_a_504_never_a_200(make_server):
    # The deadline (300 ms) comes before the sleep (10 s) ends: the sleep says so, and the answer
    # is a 504 on time whoever notices first, the caller's timer or the dependency's own.
    s = make_server(CANCELSVC)
    for _ in range(5):
        t0 = time.monotonic()
        r = s.post("relay_nap", {"ms": 10000}, headers={"X-Tiffin-Deadline-Ms": "300"})
        assert r.status == 504 and r.json()["code"] == "ETIMEOUT", r
        assert 0.25 < time.monotonic() - t0 < 2
    deadline = time.monotonic() + 5
    while napstats(s)["napping"] and time.monotonic() < deadline:
        time.sleep(0.02)
    st = napstats(s)
    assert st["napping"] == 0 and st["slept"] == 0 and st["timeout"] + st["cancelled"] == 5, st
    r = s.post("relay_nap", {"ms": 20})  # a sleep within the deadline is whole
    assert r.status == 200 and r.json() == {"ms": 20}, r
