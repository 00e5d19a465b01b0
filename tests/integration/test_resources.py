"""Each service gets what it declared (lib/resources.c, lib/supervisor.c): cores pinned per worker
(read back from /proc/PID/status), GPUs per worker through CUDA_VISIBLE_DEVICES (a faked device
list, TFN_GPUS, read back from /proc/PID/environ), memory limits enforced by a cgroup — a worker
over its limit is killed, the supervisor says why and restarts it — or by RLIMIT_AS.

The tests run on whatever cores this process may use (1, 2 or more) and compute what to expect
from that.
"""
import os
import re
import subprocess
import time

import pytest
from conftest import TESTSVC
from test_faults import FAULTSVC, SAN, log_wait, start_faultsvc
from test_serve_graph import alive, read_table, wait_gone

ALLOWED = sorted(os.sched_getaffinity(0))


def cpus_allowed(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    raise AssertionError("no Cpus_allowed_list for %d" % pid)


def environ(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        items = f.read().decode().split("\0")
    return dict(item.split("=", 1) for item in items if "=" in item)


def cpu_list(cores):
    """Cores as the kernel (Cpus_allowed_list) and the table write them: "0,3", "0-2,5"."""
    out, cores = [], sorted(cores)
    for c in cores:
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return ",".join("%d" % a if a == b else "%d-%d" % (a, b) for a, b in out)


# ---- cores -----------------------------------------------------------------------------------------

def test_each_worker_is_pinned_to_its_own_core(make_server, tmp_path):
    s, table, _ = start_faultsvc(make_server, tmp_path, {"FAULTSVC_DEP": "workers=2,cpu=1"})
    rows = table["Dep"]["rows"]
    for i, row in enumerate(rows):  # round-robin over the allowed cores
        want = str(ALLOWED[i % len(ALLOWED)])
        assert row["cpus"] == want
        assert cpus_allowed(row["pid"]) == want
        env = environ(row["pid"])
        assert env["OMP_NUM_THREADS"] == "1"  # sized to the worker's cores
    # The entry asked for nothing: it may run anywhere the supervisor may.
    assert table["Entry"]["rows"][0]["cpus"] == "-"
    assert cpus_allowed(table["Entry"]["pid"]) == cpus_allowed(s.proc.pid)
    # Each worker answers from its own core.
    r = s.post("forward", {"api": "whoami", "input": {}}).json()
    assert r["cpus"] == rows[r["worker"]]["cpus"]
    oversubscribed = len(ALLOWED) < 2
    assert ("cores are oversubscribed" in s.stderr()) == oversubscribed
    # A restarted worker is pinned again.
    victim = rows[0]["pid"]
    os.kill(victim, 9)
    m = log_wait(s, r"service 'Dep' worker 0 \(pid (\d+)\) is ready, \d+ ms after")
    assert cpus_allowed(int(m.group(1))) == rows[0]["cpus"]
    assert s.stop() == 0


def test_oversubscribed_cores_are_shared_round_robin_with_a_warning(make_server, tmp_path):
    n = len(ALLOWED) + 1
    s, table, _ = start_faultsvc(make_server, tmp_path, {"FAULTSVC_DEP": "workers=%d,cpu=1" % n})
    err = s.stderr()
    assert ("cores are oversubscribed: %d workers ask for %d cores in all, and %d %s allowed "
            "(CPUs %s)" % (n, n, len(ALLOWED), "is" if len(ALLOWED) == 1 else "are",
                           cpu_list(ALLOWED))) in err, err
    got = [cpus_allowed(row["pid"]) for row in table["Dep"]["rows"]]
    assert got == [str(ALLOWED[i % len(ALLOWED)]) for i in range(n)]
    assert s.stop() == 0


def test_fractions_of_a_core_round_up_per_worker(make_server, tmp_path):
    s, table, _ = start_faultsvc(make_server, tmp_path, {"FAULTSVC_DEP": "workers=2,cpu=0.5",
                                                         "FAULTSVC_ENTRY": "cpu=1.5"})
    dep = [row["cpus"] for row in table["Dep"]["rows"]]
    assert dep == [str(ALLOWED[0]), str(ALLOWED[1 % len(ALLOWED)])]  # one core each
    entry = table["Entry"]["rows"][0]
    want = sorted({ALLOWED[(2 + j) % len(ALLOWED)] for j in range(2)})  # two cores, next in turn
    assert entry["cpus"] == cpu_list(want) == cpus_allowed(entry["pid"])
    assert s.stop() == 0


# ---- GPUs ------------------------------------------------------------------------------------------

def test_each_worker_gets_its_own_gpu(make_server, tmp_path):
    s, table, _ = start_faultsvc(make_server, tmp_path, {"TFN_GPUS": "0,1,2,3",
                                                         "FAULTSVC_DEP": "workers=2,gpu=1"})
    rows = table["Dep"]["rows"]
    assert [row["gpus"] for row in rows] == ["0", "1"]
    for row in rows:
        env = environ(row["pid"])
        assert env["CUDA_VISIBLE_DEVICES"] == row["gpus"]
        assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    # The entry asked for no GPU while another service did: it sees none.
    assert table["Entry"]["rows"][0]["gpus"] == "none"
    assert environ(table["Entry"]["pid"])["CUDA_VISIBLE_DEVICES"] == ""
    r = s.post("forward", {"api": "whoami", "input": {}}).json()
    assert r["gpus"] == rows[r["worker"]]["gpus"]
    assert s.stop() == 0


def test_fractional_gpus_share_a_device(make_server, tmp_path):
    s, table, _ = start_faultsvc(make_server, tmp_path, {"TFN_GPUS": "0,1,2,3",
                                                         "FAULTSVC_DEP": "workers=3,gpu=0.5"})
    rows = table["Dep"]["rows"]
    assert [row["gpus"] for row in rows] == ["0(0.5)", "0(0.5)", "1(0.5)"]
    assert [environ(row["pid"])["CUDA_VISIBLE_DEVICES"] for row in rows] == ["0", "0", "1"]
    assert s.stop() == 0


def test_whole_devices_go_first_then_fractions(make_server, tmp_path):
    s, table, _ = start_faultsvc(make_server, tmp_path, {"TFN_GPUS": "0,1,2,3",
                                                         "FAULTSVC_DEP": "workers=2,gpu=0.5",
                                                         "FAULTSVC_ENTRY": "workers=1,gpu=2"})
    assert table["Entry"]["rows"][0]["gpus"] == "0,1"
    assert environ(table["Entry"]["pid"])["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert [row["gpus"] for row in table["Dep"]["rows"]] == ["2(0.5)", "2(0.5)"]
    assert s.stop() == 0


@pytest.mark.parametrize("gpus, dep, message", [
    ("0,1,2,3", "workers=2,gpu=3",
     "service 'Dep' asks for 3 GPUs for each of its 2 workers (6 in all), but this machine has "
     "4 GPUs (0,1,2,3, from $TFN_GPUS), 0 of them taken by other services"),
    ("", "workers=1,gpu=0.5",
     "service 'Dep' asks for 0.5 GPU for each of its 1 worker (shared devices), but this machine "
     "has no GPU ($TFN_GPUS)"),
])
def test_more_gpus_than_exist_is_a_clear_start_up_error(tmp_path, gpus, dep, message):
    sockets = tmp_path / "s"
    p = subprocess.run([FAULTSVC, "serve", "--port", "0", "--socket-dir", str(sockets)],
                       capture_output=True, text=True, timeout=20,
                       env=dict(os.environ, TFN_GPUS=gpus, FAULTSVC_DEP=dep))
    assert p.returncode == 1, p.stderr
    assert message in p.stderr, p.stderr
    assert p.stdout == "" and "started service" not in p.stderr  # nothing was started
    assert not sockets.exists()


# ---- memory ----------------------------------------------------------------------------------------

def memory_mechanism(s):
    m = re.search(r"memory limits: (cgroup v[12]|setrlimit)|memory limits are NOT enforced",
                  s.stderr())
    assert m, s.stderr()
    return m.group(1) or "off"


# The worker's own footprint stays far below the limit, under AddressSanitizer too (measured: an
# idle faultsvc worker is about 8 MiB resident under ASan; memory it touched before joining its
# cgroup is not charged to it). 200 MiB is far above.
LIMIT_MB = 64
TOO_MUCH_MB = 200


def test_worker_over_its_memory_limit_is_killed_and_restarted(make_server, tmp_path):
    s, table, _ = start_faultsvc(make_server, tmp_path,
                                 {"FAULTSVC_DEP": "workers=1,memory=%d" % LIMIT_MB})
    mechanism = memory_mechanism(s)
    if not mechanism.startswith("cgroup"):
        pytest.skip("no writable memory cgroup here (%s)" % mechanism)
    assert table["Dep"]["rows"][0]["memory"] == "%dMiB" % LIMIT_MB
    victim = table["Dep"]["pid"]
    # Within the limit: fine.
    r = s.post("forward", {"api": "alloc", "input": {"mb": 8}})
    assert r.status == 200, r
    # Over it: the kernel kills the worker; the entry answers 5xx for that request.
    r = s.post("forward", {"api": "alloc", "input": {"mb": TOO_MUCH_MB}}, timeout=20)
    assert r.status == 502 and r.json()["service"] == "Dep", r
    m = log_wait(s, r"service 'Dep' worker 0 \(pid %d\) was killed by the kernel: over its "
                    r"memory limit of %d MiB; restarting it" % (victim, LIMIT_MB))
    m = log_wait(s, r"service 'Dep' worker 0 \(pid (\d+)\) is ready, \d+ ms after")
    new = int(m.group(1))
    assert new != victim and not alive(victim)
    # And it recovers.
    deadline = time.monotonic() + 5
    while True:
        r = s.post("forward", {"api": "alloc", "input": {"mb": 8}})
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert r.status == 200, r
    assert s.post("forward", {"api": "whoami", "input": {}}).json()["pid"] == new
    # Each worker process had its own group, removed once it was gone.
    assert s.stop() == 0
    assert wait_gone([new], timeout=0)
    groups = re.findall(r"a group per worker under (\S+)", s.stderr())
    assert groups and not [g for g in os.listdir(groups[0])
                           if g.startswith("tiffin-%d-" % s.proc.pid)]


@pytest.mark.skipif(SAN, reason="RLIMIT_AS and AddressSanitizer do not mix (ASan reserves "
                                 "terabytes of address space); the fallback is off under ASan")
def test_rlimit_fallback_refuses_the_allocation(make_server, tmp_path):
    s, table, _ = start_faultsvc(make_server, tmp_path,
                                 {"FAULTSVC_DEP": "workers=1,memory=%d" % LIMIT_MB,
                                  "TFN_MEMORY_LIMITS": "rlimit"})
    assert memory_mechanism(s) == "setrlimit"
    pid = table["Dep"]["pid"]
    assert environ(pid)["TFN_MEMORY_RLIMIT"] == str(LIMIT_MB << 20)
    # Address space, not resident memory: the allocation fails, the worker lives on.
    r = s.post("forward", {"api": "alloc", "input": {"mb": TOO_MUCH_MB}})
    assert r.status == 500 and r.json()["code"] == "ENOMEM", r
    assert s.post("forward", {"api": "alloc", "input": {"mb": 8}}).status == 200
    assert s.post("forward", {"api": "whoami", "input": {}}).json()["pid"] == pid
    assert s.stop() == 0


def test_memory_limits_off(make_server, tmp_path):
    s, table, _ = start_faultsvc(make_server, tmp_path,
                                 {"FAULTSVC_DEP": "workers=1,memory=%d" % LIMIT_MB,
                                  "TFN_MEMORY_LIMITS": "off"})
    assert memory_mechanism(s) == "off"
    assert table["Dep"]["rows"][0]["memory"] == "%dMiB(off)" % LIMIT_MB
    assert "TFN_MEMORY_RLIMIT" not in environ(table["Dep"]["pid"])
    assert s.stop() == 0


def test_one_service_with_workers_is_supervised(make_server, tmp_path):
    # A program of one service is served in-process, unless it asks for more than one worker
    # or for resources: then a supervisor runs it, as it runs a graph.
    s = make_server(TESTSVC, "--workers", "2", "--socket-dir", str(tmp_path / "s"))
    table, _ = read_table(s)
    assert table["TestSvc"]["workers"] == 2
    pids = [row["pid"] for row in table["TestSvc"]["rows"]]
    assert s.proc.pid not in pids and len(set(pids)) == 2
    assert s.post("echo", {"value": 1}).status == 200
    assert s.stop() == 0
    assert wait_gone(pids, timeout=0)
