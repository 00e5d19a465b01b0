"""A worker range (--workers MIN:MAX, tfn_service_t.max_workers): under a load step the
supervisor adds a worker, and retires it once the load is gone; every change is logged and no
request fails meanwhile (lib/supervise/scale.c)."""
import http.client
import json
import os
import re
import threading
import time

from conftest import TESTSVC

CLIENTS = 16  # TestSvc has 8 handler threads a worker: 16 sleeping requests keep 2 busy


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(c) for c in f.read().split()]


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


class Load:
    def __init__(self, port):
        self.port, self.stopping, self.statuses = port, threading.Event(), []
        self.threads = [threading.Thread(target=self.client) for _ in range(CLIENTS)]

    def client(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stopping.is_set():
            conn.request("POST", "/sleep", json.dumps({"ms": 50}),
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            self.statuses.append(r.status)
        conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join()


def test_load_step_up_then_down(make_server):
    s = make_server(TESTSVC, "--workers", "1:3")
    pid = s.proc.pid
    assert len(children(pid)) == 1  # the minimum
    if os.cpu_count() < 3:  # the range is capped by the cores serve may use, and says so
        assert "may grow to %d workers, not 3" % os.cpu_count() in s.stderr()
    t0 = time.monotonic()
    with Load(s.port) as load:
        grew = wait_for(lambda: "up from 1 to 2 workers" in s.stderr(), 10)
        up_s = time.monotonic() - t0
        assert grew, s.stderr()
        assert wait_for(lambda: len(children(pid)) >= 2, 5), children(pid)
        time.sleep(1)
    assert load.statuses and set(load.statuses) == {200}, set(load.statuses)
    t1 = time.monotonic()
    shrank = wait_for(lambda: "down from 2 to 1 workers" in s.stderr(), 15)
    assert shrank, s.stderr()
    down_s = time.monotonic() - t1
    assert wait_for(lambda: len(children(pid)) == 1, 10), children(pid)
    # (the supervisor logs the exit just after it has reaped the process)
    drained = re.compile(r"worker 1 \(pid \d+\) has drained and stopped")
    assert wait_for(lambda: drained.search(s.stderr()), 5), s.stderr()
    log = s.stderr()
    # Every change says why: utilization, target, workers wanted.
    for line in re.findall(r"scale: service 'TestSvc' (?:up|down) .*", log):
        assert "utilization" in line and "target 0.70" in line, line
    print("scaled up after %.1f s of load, down %.1f s after it stopped" % (up_s, down_s))
    # Still serving with one worker.
    assert s.post("sleep", {"ms": 1}).status == 200
