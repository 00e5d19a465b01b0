"""A worker's life: readiness during init, init failure, graceful drain on SIGTERM/SIGINT,
unix-socket listeners."""
import http.client
import json
import os
import signal
import socket
import tempfile
import threading
import time

from conftest import TESTSVC


def test_readyz_is_503_until_init_finishes(make_server):
    s = make_server(TESTSVC, env={"TESTSVC_INIT_MS": "1500"}, wait_ready=False)
    r = s.get("/readyz")
    assert r.status == 503 and r.json()["code"] == "EUNAVAIL"
    assert "init" in r.json()["error"]
    assert s.get("/livez").status == 200  # alive while starting
    assert s.get("/healthz").json()["status"] == "starting"
    r = s.post("echo", {})
    assert r.status == 503 and r.json()["code"] == "EUNAVAIL"
    s.wait_ready()
    assert s.post("echo", {}).status == 200


def test_init_failure_exits_1_naming_the_cause(make_server):
    s = make_server(TESTSVC, env={"TESTSVC_INIT_FAIL": "1"}, wait_ready=False)
    rc = s.proc.wait(10)
    assert rc == 1
    err = s.stderr()
    assert "init of service 'TestSvc' failed" in err and "/nonexistent/model.bin" in err
    assert "shutdown hook ran" not in err  # init never succeeded


def test_sigterm_during_a_failing_init_exits_at_once(make_server):
    # The drain began during init; when init then fails there is nothing left to wait for.
    s = make_server(TESTSVC, "--drain", "10000",
                    env={"TESTSVC_INIT_FAIL": "1", "TESTSVC_INIT_MS": "500"}, wait_ready=False)
    time.sleep(0.2)
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    rc = s.proc.wait(10)
    assert rc == 1 and time.monotonic() - t0 < 3, time.monotonic() - t0


def test_sigterm_drains_in_flight_requests(make_server):
    s = make_server(TESTSVC)
    result = {}

    def slow():
        result["r"] = s.post("sleep", {"ms": 800})

    t = threading.Thread(target=slow)
    t.start()
    deadline = time.monotonic() + 5
    while s.get("/healthz").json()["in_flight"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    # No new connections once draining.
    try:
        with socket.create_connection(("127.0.0.1", s.port), timeout=1) as c:
            c.sendall(b"GET /livez HTTP/1.1\r\n\r\n")
            refused = c.recv(100) == b""
    except OSError:
        refused = True
    assert refused
    t.join()
    assert result["r"].status == 200 and result["r"].json() == {"slept": 800}
    assert result["r"].headers.get("connection") == "close"
    assert s.proc.wait(10) == 0
    err = s.stderr()
    assert "shutdown hook ran" in err and "stopped" in err


def test_sigint_with_idle_keepalive_connection(make_server):
    s = make_server(TESTSVC)
    conn = s.connection()
    conn.request("GET", "/livez")
    conn.getresponse().read()
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGINT)
    assert s.proc.wait(10) == 0
    assert time.monotonic() - t0 < 3  # idle keep-alive connections do not hold the drain
    conn.close()


def test_drain_deadline_bounds_shutdown(make_server):
    s = make_server(TESTSVC, "--drain", "300", "--timeout", "10000")
    outcome = {}

    def sleeper():  # its request is still running when the drain deadline ends the process
        try:
            outcome["status"] = s.post("sleep", {"ms": 3000}, timeout=10).status
        except (http.client.HTTPException, ConnectionError) as e:
            outcome["error"] = type(e).__name__

    sleeper_thread = threading.Thread(target=sleeper, daemon=True)
    sleeper_thread.start()
    deadline = time.monotonic() + 5
    while s.get("/healthz").json()["in_flight"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    rc = s.proc.wait(10)
    assert time.monotonic() - t0 < 2
    assert rc == 1  # not a clean drain: says so
    assert "drain deadline" in s.stderr()
    assert "shutdown hook ran" not in s.stderr()  # never under a running handler
    sleeper_thread.join(10)
    assert outcome and outcome.get("status") != 200, outcome  # cut off, never a late answer


def test_unix_socket_listener(make_server):
    d = tempfile.mkdtemp()
    path = os.path.join(d, "svc.sock")
    s = make_server(TESTSVC, unix=path, tcp=False)
    r = s.post("typed", {"i": 1, "f": 0.5, "s": "u", "b": True, "t": [[1], [2]]})
    assert r.status == 200 and r.json()["i"] == 2
    assert s.stop() == 0
    assert not os.path.exists(path)  # cleaned up
    os.rmdir(d)


def test_tcp_and_unix_together(make_server):
    d = tempfile.mkdtemp()
    path = os.path.join(d, "svc.sock")
    s = make_server(TESTSVC, unix=path)
    assert s.get("/livez").status == 200
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(path)
        c.sendall(b"GET /readyz HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert c.recv(1000).startswith(b"HTTP/1.1 200 ")
    assert s.stop() == 0
    os.rmdir(d)


def test_port_in_use_is_a_clear_error(make_server):
    a = make_server(TESTSVC)
    b = make_server(TESTSVC, start=False)
    import subprocess
    p = subprocess.run([TESTSVC, "serve", "--port", str(a.port)], capture_output=True,
                       timeout=10)
    assert p.returncode == 1
    assert b"cannot listen on 127.0.0.1:%d" % a.port in p.stderr
    b.close()


def test_served_counter(svc):
    for _ in range(3):
        svc.post("echo", {})
    assert svc.get("/healthz").json()["served"] >= 3
    json.dumps(svc.get("/healthz").json())
