"""Background tasks over real sockets (lib/server/tasks.c, tests/integration/tasksvc.c):
BentoML 1.4's endpoints and JSON shapes, queueing within max_concurrency, retry, cancel,
expiry, bad task ids, and a finished result surviving a worker killed with SIGKILL under
`serve`."""
import json
import os
import re
import signal
import time

import pytest

from conftest import BUILD

TASKSVC = os.path.join(BUILD, "tests", "integration", "tasksvc")
ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def tasks(make_server, tmp_path):
    return make_server(TASKSVC, env={"TFN_DATA_DIR": str(tmp_path / "data")})


def submit(s, api, obj=None):
    r = s.post(api + "/submit", obj)
    assert r.status == 200, r
    body = r.json()
    assert ID.match(body["task_id"]) and body["status"] in ("pending", "in_progress"), body
    return body["task_id"]


def status(s, api, task_id):
    r = s.get("/%s/status?task_id=%s" % (api, task_id))
    assert r.status == 200, r
    return r.json()


def wait_done(s, api, task_id, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = status(s, api, task_id)
        if st["status"] not in ("pending", "in_progress"):
            return st
        time.sleep(0.02)
    raise AssertionError("task %s did not finish: %s" % (task_id, st))


def test_submit_status_get(tasks):
    tid = submit(tasks, "work", {"x": 21, "sleep_ms": 300})
    st = status(tasks, "work", tid)
    assert st["task_id"] == tid and st["status"] in ("pending", "in_progress")
    assert st["completed_at"] is None and st["created_at"].endswith("+00:00")
    r = tasks.get("/work/get?task_id=" + tid)  # not finished yet: 400 with a JSON body
    assert r.status == 400 and "not completed yet" in r.json()["error"], r
    st = wait_done(tasks, "work", tid)
    assert st["status"] == "completed" and st["executed_at"] and st["completed_at"], st
    r = tasks.get("/work/get?task_id=" + tid)
    assert r.status == 200 and r.json()["y"] == 42, r
    # The API itself still answers a plain POST.
    assert tasks.post("work", {"x": 1}).json()["y"] == 2


def test_a_failed_task_keeps_its_error(tasks):
    tid = submit(tasks, "work", {"x": 1, "fail": True})
    assert wait_done(tasks, "work", tid)["status"] == "failed"
    r = tasks.get("/work/get?task_id=" + tid)
    assert r.status == 500 and r.json()["error"] == "asked to fail", r


def test_bad_input_is_refused_at_submit(tasks):
    r = tasks.post("work/submit", {"x": "not a number"})
    assert r.status == 400 and r.json()["code"] == "ETYPE", r
    r = tasks.post("work/submit", raw="{nope")
    assert r.status == 400 and r.json()["code"] == "EBADJSON", r
    r = tasks.post("work/submit", raw="{}", content_type="text/plain")
    assert r.status == 415, r


@pytest.mark.parametrize("query", [
    "", "?task_id=", "?task_id=xyz", "?task_id=" + "g" * 32, "?task_id=" + "a" * 33,
    "?task_id=%zz" + "a" * 30, "?task_id=" + "A" * 32, "?other=1",
])
@pytest.mark.parametrize("method,op", [("GET", "status"), ("GET", "get"), ("POST", "retry"),
                                       ("PUT", "cancel")])
def test_bad_task_ids_are_400_with_json(tasks, method, op, query):
    r = tasks.request(method, "/work/%s%s" % (op, query))
    assert r.status == 400, r
    assert r.json()["code"] in ("EMISSING", "EINVAL"), r


@pytest.mark.parametrize("method,op", [("GET", "status"), ("GET", "get"), ("POST", "retry"),
                                       ("PUT", "cancel")])
def test_unknown_task_ids_are_404(tasks, method, op):
    r = tasks.request(method, "/work/%s?task_id=%s" % (op, "0" * 32))
    assert r.status == 404 and r.json()["code"] == "ENOTFOUND", r


def test_a_task_of_another_api_is_not_found(tasks):
    tid = submit(tasks, "brief")
    assert tasks.get("/work/status?task_id=" + tid).status == 404


def test_wrong_methods_and_non_task_paths(tasks):
    r = tasks.request("GET", "/work/submit")
    assert r.status == 405 and r.headers["allow"] == "POST", r
    r = tasks.request("POST", "/work/cancel?task_id=" + "0" * 32)
    assert r.status == 405 and r.headers["allow"] == "PUT", r
    assert tasks.post("work/nothing", {}).status == 404
    assert tasks.post("nosuch/submit", {}).status == 404


def test_tasks_queue_within_max_concurrency(tasks):
    # max_concurrency is 1: three tasks of 300 ms run one after another, in order.
    ids = [submit(tasks, "work", {"x": i, "sleep_ms": 300}) for i in range(3)]
    time.sleep(0.1)
    states = [status(tasks, "work", t)["status"] for t in ids]
    assert states == ["in_progress", "pending", "pending"], states
    # A plain request meanwhile waits for no task: the slot is taken, so it is refused (429).
    assert tasks.post("work", {"x": 1}).status == 429
    done = [wait_done(tasks, "work", t) for t in ids]
    assert all(d["status"] == "completed" for d in done)
    starts = [d["executed_at"] for d in done]
    ends = [d["completed_at"] for d in done]
    assert starts[1] >= ends[0] and starts[2] >= ends[1], done


def test_retry_runs_the_same_input_again(tasks):
    tid = submit(tasks, "work", {"x": 5})
    wait_done(tasks, "work", tid)
    r = tasks.request("POST", "/work/retry?task_id=" + tid)
    assert r.status == 200, r
    again = r.json()["task_id"]
    assert again != tid and ID.match(again)
    wait_done(tasks, "work", again)
    assert tasks.get("/work/get?task_id=" + again).json()["y"] == 10
    # A task still running cannot be retried.
    slow = submit(tasks, "work", {"x": 1, "sleep_ms": 400})
    r = tasks.request("POST", "/work/retry?task_id=" + slow)
    assert r.status == 400 and "not completed" in r.json()["error"], r
    wait_done(tasks, "work", slow)


def test_cancel_a_waiting_and_a_running_task(tasks):
    running = submit(tasks, "work", {"x": 1, "sleep_ms": 400})
    waiting = submit(tasks, "work", {"x": 2})
    time.sleep(0.1)
    r = tasks.request("PUT", "/work/cancel?task_id=" + waiting)
    assert r.status == 200 and r.json()["status"] == "canceled", r
    r = tasks.request("PUT", "/work/cancel?task_id=" + running)
    assert r.status == 200 and r.json()["status"] == "canceled", r
    time.sleep(0.6)  # the running one finished meanwhile: its result is discarded
    for tid in (running, waiting):
        st = status(tasks, "work", tid)
        assert st["status"] == "canceled", st
        r = tasks.get("/work/get?task_id=" + tid)
        assert r.status == 400 and "canceled" in r.json()["error"], r
    assert status(tasks, "work", waiting)["executed_at"] is None  # it never ran
    # Canceling a finished task is a conflict.
    r = tasks.request("PUT", "/work/cancel?task_id=" + running)
    assert r.status == 409 and "canceled already" in r.json()["error"], r
    # The slot is free again: a new task runs.
    tid = submit(tasks, "work", {"x": 3})
    assert wait_done(tasks, "work", tid)["status"] == "completed"


def test_results_expire(tasks):
    tid = submit(tasks, "brief")  # kept for 1 s
    assert wait_done(tasks, "brief", tid)["status"] == "completed"
    assert tasks.get("/brief/get?task_id=" + tid).json() == {"ok": True}
    time.sleep(1.3)
    r = tasks.get("/brief/get?task_id=" + tid)
    assert r.status == 404 and "expired" in r.json()["error"], r
    assert tasks.get("/brief/status?task_id=" + tid).status == 404


def test_a_finished_result_survives_a_worker_killed(make_server, tmp_path):
    s = make_server(TASKSVC, env={"TFN_DATA_DIR": str(tmp_path / "data"), "TASKSVC_WORKERS": "2"})
    tid = submit(s, "work", {"x": 7})
    assert wait_done(s, "work", tid)["status"] == "completed"
    runner = s.get("/work/get?task_id=" + tid).json()["pid"]
    os.kill(runner, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while "restarted service 'Tasks'" not in s.stderr():
        assert time.monotonic() < deadline, s.stderr()
        time.sleep(0.05)
    s.wait_ready()
    # Whichever worker answers now, the result is there (a new connection each time).
    for _ in range(6):
        r = s.get("/work/get?task_id=" + tid)
        assert r.status == 200 and r.json() == {"y": 14, "pid": runner}, r


def test_a_task_whose_worker_died_is_failed(make_server, tmp_path):
    s = make_server(TASKSVC, env={"TFN_DATA_DIR": str(tmp_path / "data"), "TASKSVC_WORKERS": "2"})
    tid = submit(s, "work", {"x": 7, "sleep_ms": 3000})
    time.sleep(0.3)
    # Every worker process of the supervisor (the one running the task is among them): from
    # /proc, not from /healthz, which the kernel may hand to the same worker every time.
    with open("/proc/%d/task/%d/children" % (s.proc.pid, s.proc.pid)) as f:
        pids = [int(c) for c in f.read().split()]
    assert len(pids) == 2, pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while len(re.findall("restarted service 'Tasks'", s.stderr())) < len(pids):
        assert time.monotonic() < deadline, s.stderr()
        time.sleep(0.05)
    s.wait_ready()
    st = status(s, "work", tid)
    assert st["status"] == "failed", st
    r = s.get("/work/get?task_id=" + tid)
    assert r.status == 503 and "stopped before it finished" in r.json()["error"], r
