"""Faults and overload: a dependency worker killed under load, a dependency that never becomes
ready, a worker over its deadline still holding its slot, the wait queue, SIGHUP's rolling
restart, and workers sharing one socket (lib/supervisor.c, tests/integration/faultsvc.c).

faultsvc is Entry -> Dep, Dep with 2 workers by default. Every test is bounded in time and
stops what it started; the make_server fixture checks that each supervisor exits 0 (or the test
says otherwise), and the supervisor's children die with it.
"""
import concurrent.futures
import os
import re
import signal
import threading
import time

import pytest
from conftest import BUILD, TESTSVC
from test_serve_graph import (GRAPHSVC, alive, cmdline, healthz, run, start_graph, unix_request,
                              wait_gone)

FAULTSVC = os.path.join(BUILD, "tests", "integration", "faultsvc")
SAN = os.path.basename(BUILD.rstrip("/")) == "build-san"


def start_faultsvc(make_server, tmp_path, env=None, *args):
    return start_graph(make_server, "--socket-dir", str(tmp_path / "s"), *args, env=env,
                       binary=FAULTSVC)


def dep_pids(table):
    return [row["pid"] for row in table["Dep"]["rows"]]


def load(s, body, seconds, threads=16, timeout=5):
    """`threads` clients POST /forward `body` for `seconds`, each request on a fresh connection.
    Returns [(status or the exception's name, seconds taken, body)]."""
    stop = time.monotonic() + seconds

    def client():
        out = []
        while time.monotonic() < stop:
            t0 = time.monotonic()
            try:
                r = s.post("forward", body, timeout=timeout)
                out.append((r.status, time.monotonic() - t0, r.body))
            except Exception as e:  # a timeout or a reset is what this test is looking for
                out.append((type(e).__name__, time.monotonic() - t0, b""))
        return out

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return [r for f in [pool.submit(client) for _ in range(threads)] for r in f.result()]


def log_wait(s, pattern, timeout=5):
    """Waits for a line of the supervisor's log matching `pattern`; returns the match."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, s.stderr())
        if m:
            return m
        time.sleep(0.02)
    raise AssertionError("no %r in the log:\n%s" % (pattern, s.stderr()))


# ---- workers share one socket --------------------------------------------------------------------

def test_requests_to_a_dependency_are_spread_across_its_workers(make_server, tmp_path):
    s, table, _ = start_faultsvc(make_server, tmp_path)
    assert table["Dep"]["workers"] == 2 and table["Entry"]["workers"] == 1
    pids = dep_pids(table)
    assert len(set(pids)) == 2
    # Both workers accept on the same socket: many connections at once reach both.
    results = load(s, {"api": "sleep", "input": {"ms": 100}}, 0.5)
    assert {r[0] for r in results} == {200}
    seen = {s.post("forward", {"api": "whoami", "input": {}}).json()["pid"] for _ in range(3)}
    sock = str(tmp_path / "s" / "Dep.sock")
    deadline = time.monotonic() + 5
    while seen != set(pids) and time.monotonic() < deadline:
        seen.add(unix_request(sock, "POST", "/whoami", body="{}",
                              headers={"Content-Type": "application/json"}).json()["pid"])
    assert seen == set(pids)
    # Each worker knows its index (tfn_worker_index), as the table says.
    for row in table["Dep"]["rows"]:
        argv = cmdline(row["pid"])
        assert argv[argv.index("--worker-index") + 1] == str(row["worker"])
    assert s.stop() == 0
    assert wait_gone(pids, timeout=0)


def test_workers_flag(make_server, tmp_path):
    s, table, _ = start_graph(make_server, "--socket-dir", str(tmp_path / "s"),
                              "--workers", "Left=3", "--workers", "2")
    assert [row["worker"] for row in table["Left"]["rows"]] == [0, 1, 2]
    assert table["Entry"]["workers"] == 2 and table["Right"]["workers"] == 1
    pids = [row["pid"] for rows in table.values() for row in rows["rows"]]
    assert len(set(pids)) == 6 and s.proc.pid not in pids
    # The entry's two workers share its TCP port.
    seen = set()
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        seen.add(s.post("whoami", {}).json()["pid"])
    assert seen == {row["pid"] for row in table["Entry"]["rows"]}
    assert s.stop() == 0
    assert wait_gone(pids, timeout=0)


@pytest.mark.parametrize("args, message", [
    (["--workers", "Nope=2"], "--workers Nope=2: no service called 'Nope'"),
    (["--workers", "0"], "--workers wants N, MIN:MAX, NAME=N or NAME=MIN:MAX with 1 <= MIN <= MAX <= 256, not '0'"),
    (["--workers", "Left=x"], "--workers wants N, MIN:MAX, NAME=N or NAME=MIN:MAX with 1 <= MIN <= MAX <= 256, not 'Left=x'"),
    (["--service", "Left", "--workers", "2"], "--workers does not go with --service"),
])
def test_workers_flag_usage_errors(args, message):
    p = run("serve", "--port", "0", *args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert message in p.stderr and p.stdout == ""


# ---- a dependency worker killed under load ---------------------------------------------------------

@pytest.mark.parametrize("idempotent", [False, True])
def test_dependency_worker_killed_under_load(make_server, tmp_path, idempotent):
    s, table, _ = start_faultsvc(make_server, tmp_path)
    entry = table["Entry"]["pid"]
    victim, survivor = dep_pids(table)
    body = {"api": "sleep", "input": {"ms": 100}, "idempotent": idempotent}

    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", load(s, body, 1.5, timeout=5)))
    t.start()
    time.sleep(0.5)
    os.kill(victim, signal.SIGKILL)
    t.join(30)
    results = box["r"]

    statuses = [r[0] for r in results]
    # Every request got an HTTP answer, in time: nothing hung, the entry never went away.
    assert all(isinstance(st, int) for st in statuses), statuses
    assert max(r[1] for r in results) < 3
    if idempotent:
        # A call that may be repeated is sent again, on a fresh connection: the socket is
        # shared, so it reaches a live worker.
        assert set(statuses) == {200}, [r for r in results if r[0] != 200][:5]
    else:
        # Those that were in the dead worker fail cleanly (502: the connection ended).
        assert set(statuses) <= {200, 502, 503}, set(statuses)
        assert statuses.count(200) > len(statuses) // 2
    assert s.post("whoami", {}).json()["pid"] == entry
    assert alive(survivor)

    # Restarted within a second of its death.
    m = log_wait(s, r"service 'Dep' worker 0 \(pid (\d+)\) is ready, (\d+) ms after its "
                    r"predecessor died")
    assert int(m.group(2)) < 1000, m.group(0)
    assert "service 'Dep' worker 0 (pid %d) killed by signal 9" % victim in s.stderr()
    new = int(m.group(1))
    assert new not in (victim, survivor) and alive(new)

    # And afterwards every request succeeds, on both workers.
    results = load(s, {"api": "sleep", "input": {"ms": 20}}, 0.5, threads=8)
    assert {r[0] for r in results} == {200}
    assert s.stop() == 0
    assert wait_gone([entry, survivor, new], timeout=0)


def test_restarted_worker_waits_for_a_dependency_that_is_down(make_server, tmp_path):
    # The entry is restarted while its dependency does not answer (both workers stopped): it
    # serves what it can and stays red, but is not killed for that past --start-timeout.
    s, table, _ = start_faultsvc(make_server, tmp_path, None, "--start-timeout", "800")
    deps = dep_pids(table)
    for pid in deps:
        os.kill(pid, signal.SIGSTOP)
    try:
        os.kill(table["Entry"]["pid"], signal.SIGKILL)
        m = log_wait(s, r"restarted service 'Entry' worker 0 \(pid (\d+)\)")
        entry = int(m.group(1))
        time.sleep(1.5)
        assert alive(entry) and "did not become ready" not in s.stderr(), s.stderr()
        r = s.get("/readyz")
        assert r.status == 503 and "dependency 'Dep' is not ready" in r.json()["error"], r
    finally:
        for pid in deps:
            os.kill(pid, signal.SIGCONT)
    log_wait(s, r"service 'Entry' worker 0 \(pid %d\) is ready, \d+ ms after" % entry)
    assert s.post("forward", {"api": "whoami", "input": {}}).status == 200
    assert s.stop() == 0


def test_dependency_that_never_becomes_ready_keeps_the_entry_red(make_server, tmp_path):
    dep_sock = str(tmp_path / "dep.sock")
    dep = make_server(FAULTSVC, "--service", "Dep", unix=dep_sock, tcp=False, wait_ready=False,
                      env={"FAULTSVC_INIT_MS": "Dep:60000"})
    s = make_server(FAULTSVC, "--service", "Entry", "--depends", "Dep=unix:" + dep_sock,
                    wait_ready=False)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # red, for as long as we care to look, naming the cause
        r = s.get("/readyz")
        assert r.status == 503, r
        time.sleep(0.1)
    assert "dependency 'Dep' is not ready" in r.json()["error"], r
    assert "its init hook has not finished" in r.json()["error"], r  # what Dep's /readyz says
    assert s.get("/livez").status == 200
    r = s.post("forward", {"api": "whoami", "input": {}})
    assert r.status == 503 and r.json()["service"] == "Dep", r
    assert s.stop() == 0
    dep.proc.kill()  # its init would take a minute
    dep.proc.wait(5)


# ---- overload: deadlines and the wait queue --------------------------------------------------------

def test_timed_out_request_keeps_its_slot_until_the_handler_returns(make_server):
    s = make_server(TESTSVC, "--timeout", "300", "--max-concurrency", "1")
    first = {}
    t0 = time.monotonic()
    t = threading.Thread(target=lambda: first.setdefault("r", s.post("sleep", {"ms": 1500})))
    t.start()
    t.join(5)
    took = time.monotonic() - t0
    assert first["r"].status == 504 and first["r"].json()["code"] == "ETIMEOUT"
    assert took < 1.2
    # The client has its 504, but the handler is still sleeping on its thread: the slot is
    # taken until it returns, so a second request is refused, not run beside it.
    r = s.post("echo", {"value": 1})
    assert r.status == 429 and r.json()["code"] == "EBUSY", r
    assert s.get("/healthz").json()["in_flight"] == 1
    deadline = time.monotonic() + 5
    while s.get("/healthz").json()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert time.monotonic() - t0 >= 1.4  # freed only when the handler returned
    assert s.post("echo", {"value": 1}).status == 200


def test_max_queue_flag(make_server):
    s = make_server(TESTSVC, "--max-concurrency", "1", "--max-queue", "1")
    results = {}

    def call(key, ms):
        results[key] = (s.post("sleep", {"ms": ms}), time.monotonic())

    a = threading.Thread(target=call, args=("a", 600))
    a.start()
    deadline = time.monotonic() + 5
    while s.get("/healthz").json()["in_flight"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    b = threading.Thread(target=call, args=("b", 10))
    b.start()
    while s.get("/healthz").json()["queued"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    r = s.post("sleep", {"ms": 10})  # one running, one waiting: no room
    assert r.status == 429 and "and 1 waiting" in r.json()["error"], r
    a.join(5)
    b.join(5)
    assert results["a"][0].status == 200 and results["b"][0].status == 200
    assert results["b"][1] >= results["a"][1] - 0.05  # b waited for a's slot


def test_max_queue_flag_zero_overrides_the_service(make_server):
    p = run("serve", "--max-queue", "x")
    assert p.returncode == 2 and "--max-queue wants a number" in p.stderr
    s = make_server(TESTSVC, "--max-concurrency", "1", "--max-queue", "0")
    t = threading.Thread(target=lambda: s.post("sleep", {"ms": 400}))
    t.start()
    deadline = time.monotonic() + 5
    while s.get("/healthz").json()["in_flight"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert s.post("sleep", {"ms": 1}).status == 429
    t.join(5)


# ---- SIGHUP ------------------------------------------------------------------------------------------

def test_sighup_restarts_every_worker_without_refusing_a_request(make_server, tmp_path):
    s, table, _ = start_faultsvc(make_server, tmp_path, {"FAULTSVC_INIT_MS": "Dep:300"})
    old = {name: [row["pid"] for row in rows["rows"]] for name, rows in table.items()}
    box = {}
    body = {"api": "whoami", "input": {}, "idempotent": True}
    t = threading.Thread(target=lambda: box.setdefault("r", load(s, body, 3.5, threads=8)))
    t.start()
    time.sleep(0.3)
    s.proc.send_signal(signal.SIGHUP)
    log_wait(s, r"rolling restart done", timeout=15)
    t.join(30)
    statuses = [r[0] for r in box["r"]]
    assert set(statuses) == {200}, [r for r in box["r"] if r[0] != 200][:5]
    err = s.stderr()
    assert "SIGHUP: restarting every worker" in err
    # Each replacement was ready before its predecessor was told to stop.
    for name, pids in old.items():
        for i, pid in enumerate(pids):
            m = re.search(r"service '%s' worker %d \(pid (\d+)\) is ready and replaces pid %d"
                          % (name, i, pid), err)
            assert m, err
            assert "service '%s' worker %d (pid %d) has drained and stopped" % (name, i, pid) in err
            assert not alive(pid)
    assert s.post("whoami", {}).json()["pid"] not in old["Entry"]
    assert s.stop() == 0


def test_sighup_to_a_single_process_says_there_is_nothing_to_reload(make_server):
    s = make_server(TESTSVC)
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "SIGHUP" not in s.stderr() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "SIGHUP: nothing to reload" in s.stderr() and "send SIGTERM to stop" in s.stderr()
    assert s.post("echo", {"value": 1}).status == 200  # still serving


def test_sighup_while_starting_is_ignored(make_server, tmp_path):
    # The banner comes when the entry starts; its init then takes a while.
    s = make_server(FAULTSVC, "--socket-dir", str(tmp_path / "s"), wait_ready=False,
                    env={"FAULTSVC_INIT_MS": "Entry:1000"})
    s.proc.send_signal(signal.SIGHUP)
    log_wait(s, r"SIGHUP: ignored while starting")
    s.wait_ready()
