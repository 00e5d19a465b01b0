"""Several hosts on one machine: each service of examples/ensemble on a host of its own.

Hosts are network namespaces joined by veth pairs to a bridge that lives in a namespace of its
own (a "switch"), so nothing of this test touches the machine's own network: the private subnet
exists only inside namespaces this test creates, and names carry the test's pid, so parallel runs
do not collide. Each host runs the command its Deployment would run (`manifests kubernetes`),
with the Services' names replaced by the hosts' addresses.

Under a bounded load (CLIENTS clients on the entry host's loopback, one request at a time each):
  1. a model host's link is cut (ip link set down): the entry degrades (200, the model listed as
     missing) or answers 503 within the model call's timeout, never hangs;
  2. the link comes back: full answers again, no process restarted;
  3. nftables partitions the entry from the other model, then heals.
Every request is accounted for: answered in full, degraded, failed (an HTTP error) or lost (no
answer at all). Goal: none lost. The counts go to BUILD/multihost-report.txt.

Needs root, iproute2 and nftables; skipped, with the reason, where they are missing.
"""
import ctypes
import glob
import http.client
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
import yaml

from conftest import BUILD

ENSEMBLE = os.path.join(BUILD, "examples", "ensemble")
PORT = 3000
SUBNET = "10.250.0."  # inside this test's own namespaces only
HOSTS = {  # Kubernetes name -> (service, last byte of the address)
    "ensemble": ("Ensemble", 1), "preprocessor": ("Preprocessor", 2), "modela": ("ModelA", 3),
    "modelb": ("ModelB", 4), "aggregator": ("Aggregator", 5)}
CLIENTS = 4
MODEL_TIMEOUT_S = 1.0   # examples/ensemble: each model call gets 1000 ms
ENTRY_TIMEOUT_S = 5.0   # the entry's own deadline
PAYLOAD = {"values": [0.9, 0.8, 0.95, 0.7]}
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def run(*cmd, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError("%s: %s" % (" ".join(cmd), p.stderr))
    return p


def why_not():
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    for tool in ("ip", "nft"):
        if not shutil.which(tool):
            return "%s is not installed (scripts/install-deps.sh test installs it)" % tool
    probe = "tfnprobe%d" % os.getpid()
    p = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if p.returncode != 0:
        return "ip netns add failed: " + p.stderr.strip()
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def remove_stale():
    """Namespaces of earlier runs whose process is gone (killed before its cleanup ran)."""
    for path in glob.glob("/var/run/netns/tfn*-*"):
        pid = os.path.basename(path)[3:].split("-")[0]
        if pid.isdigit() and not os.path.exists("/proc/" + pid):
            subprocess.run(["ip", "netns", "del", os.path.basename(path)], capture_output=True)


def in_netns(ns, fn, *args):
    """Runs fn(*args) on a thread that has entered network namespace `ns`; returns its value."""
    out = {}

    def body():
        try:
            fd = os.open("/var/run/netns/" + ns, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns " + ns)
            finally:
                os.close(fd)
            out["value"] = fn(*args)
        except BaseException as e:  # handed to the caller
            out["error"] = e

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def get(host, path, timeout=2):
    c = http.client.HTTPConnection(host, PORT, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Net:
    """The switch and the hosts; close() removes everything, whatever state it is in."""

    def __init__(self):
        self.tag = "tfn%d" % os.getpid()
        self.switch = self.tag + "-sw"
        self.ns = {h: "%s-%s" % (self.tag, h) for h in HOSTS}
        self.procs = {}
        self.logs = {}

    def ip(self, host):
        return SUBNET + str(HOSTS[host][1])

    def up(self):
        run("ip", "netns", "add", self.switch)
        run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.switch, "link", "set", "br0", "up")
        for h, ns in self.ns.items():
            run("ip", "netns", "add", ns)
            port = "p-" + h[:10]  # the switch's side, named after the host
            run("ip", "-n", self.switch, "link", "add", port, "type", "veth", "peer", "name",
                "eth0", "netns", ns)
            run("ip", "-n", self.switch, "link", "set", port, "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", self.ip(h) + "/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")

    def start(self, commands):
        for h, cmd in commands.items():
            log = open(os.path.join(BUILD, "multihost-%s.log" % h), "w")
            self.logs[h] = log
            self.procs[h] = subprocess.Popen(["ip", "netns", "exec", self.ns[h], *cmd],
                                             stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 30
        for h in commands:
            while True:
                assert self.procs[h].poll() is None, "%s exited:\n%s" % (h, self.log(h))
                try:
                    if in_netns(self.ns[h], get, self.ip(h), "/readyz")[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "%s not ready:\n%s" % (h, self.log(h))
                time.sleep(0.05)

    def log(self, h):
        with open(os.path.join(BUILD, "multihost-%s.log" % h), errors="replace") as f:
            return f.read()

    def stop(self):
        """SIGTERM every server; returns {host: exit status}."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        status = {}
        for h, p in self.procs.items():
            try:
                status[h] = p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                status[h] = p.wait()
        return status

    def close(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for log in self.logs.values():
            log.close()
        for ns in [*self.ns.values(), self.switch]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def net():
    reason = why_not()
    if reason:
        pytest.skip(reason)
    remove_stale()
    n = Net()
    try:
        n.up()
        yield n
    finally:
        n.close()
    assert not any(os.path.exists("/var/run/netns/" + ns)
                   for ns in [*n.ns.values(), n.switch])


def commands_from_manifests(net):
    """Each Deployment's command, with Service names replaced by the hosts' addresses."""
    text = subprocess.run([ENSEMBLE, "manifests", "kubernetes", "--image", "unused"],
                          capture_output=True, text=True, check=True).stdout
    commands = {}
    for d in yaml.safe_load_all(text):
        if d and d["kind"] == "Deployment":
            cmd = d["spec"]["template"]["spec"]["containers"][0]["command"]
            args = []
            for a in cmd[1:]:
                if "=http://" in a:  # NAME=http://SERVICE:PORT
                    host = a.split("://")[1].split(":")[0]
                    a = a.replace("://%s:" % host, "://%s:" % net.ip(host))
                args.append(a)
            commands[d["metadata"]["name"]] = [ENSEMBLE] + args
    assert set(commands) == set(HOSTS), commands
    return commands


class Load:
    """CLIENTS threads in the entry's namespace, each calling classify one request at a time
    until stopped; every result is kept as (start, seconds, outcome, missing models)."""

    def __init__(self, net):
        self.net = net
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=in_netns, args=(net.ns["ensemble"], self.client))
                        for _ in range(CLIENTS)]

    def client(self):
        body = json.dumps(PAYLOAD)
        conn = None
        while not self.stopping.is_set():
            t0 = time.monotonic()
            outcome, missing = "lost", []
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", PORT,
                                                      timeout=ENTRY_TIMEOUT_S + 5)
                conn.request("POST", "/classify", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status == 200:
                    missing = json.loads(data)["missing"]
                    outcome = "degraded" if missing else "full"
                else:
                    outcome = "failed %d" % r.status
            except (OSError, http.client.HTTPException) as e:
                outcome = "lost: %s" % e
                conn.close()
                conn = None
            with self.lock:
                self.results.append((t0, time.monotonic() - t0, outcome, missing))
        if conn:
            conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join()

    def between(self, t0, t1):
        with self.lock:
            return [r for r in self.results if t0 <= r[0] < t1]


def summary(results):
    out = {"requests": len(results), "full": 0, "degraded": 0, "failed": 0, "lost": 0,
           "max_s": round(max((r[1] for r in results), default=0), 3)}
    for r in results:
        kind = r[2].split()[0].rstrip(":")
        out[kind] += 1
    return out


def phase(seconds):
    """Sleeps; returns the window (start, end): requests that started in it are counted once
    the load has stopped, so that every one of them has finished."""
    t0 = time.monotonic()
    time.sleep(seconds)
    return (t0, time.monotonic())


def wait_full(load, seconds=10):
    """Waits until half a second of answers is all full; returns (window since t0, seconds)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        t1 = time.monotonic()
        time.sleep(0.5)
        recent = load.between(t1, time.monotonic())
        if recent and all(r[2] == "full" for r in recent):
            return (t0, time.monotonic()), round(t1 - t0, 2)
    raise AssertionError("no recovery in %ss: %s" % (seconds, summary(load.between(t0, 1e12))))


def test_ensemble_across_hosts_survives_a_cut_link_and_a_partition(net):
    net.start(commands_from_manifests(net))
    pids = {h: p.pid for h, p in net.procs.items()}
    sw, windows, report = net.switch, {}, {}
    with Load(net) as load:
        windows["baseline"] = phase(1.5)
        # 1. ModelA's host loses its link.
        run("ip", "-n", sw, "link", "set", "p-modela", "down")
        windows["modela link down"] = phase(3)
        # 2. The link comes back: full answers again, from the same processes.
        run("ip", "-n", sw, "link", "set", "p-modela", "up")
        windows["modela link up"], report["modela full again after s"] = wait_full(load)
        # 3. nftables in ModelB's host drops everything to and from the entry's address.
        entry_ip = net.ip("ensemble")
        rules = ("add table inet tfnpart; "
                 "add chain inet tfnpart in { type filter hook input priority 0; }; "
                 "add chain inet tfnpart out { type filter hook output priority 0; }; "
                 "add rule inet tfnpart in ip saddr %s drop; "
                 "add rule inet tfnpart out ip daddr %s drop" % (entry_ip, entry_ip))
        run("ip", "netns", "exec", net.ns["modelb"], "nft", rules)
        windows["entry|modelb partitioned"] = phase(3)
        run("ip", "netns", "exec", net.ns["modelb"], "nft", "delete", "table", "inet", "tfnpart")
        windows["partition healed"], report["modelb full again after s"] = wait_full(load)
    status = net.stop()
    for name, (t0, t1) in windows.items():
        report[name] = summary(load.between(t0, t1))
    report["total"] = total = summary(load.results)
    with open(os.path.join(BUILD, "multihost-report.txt"), "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))

    base = report["baseline"]
    # Before any fault every request is answered, and in full — but for the odd one whose model
    # call outlived its 1 s timeout on a machine loaded by other work (seen once in 6,602 under
    # ASan at load average 7.7): that is degradation working, not a fault of the network.
    assert base["requests"] > 0 and base["lost"] == 0 and base["failed"] == 0, base
    assert base["full"] >= 0.99 * base["requests"], base
    for name, model in (("modela link down", "ModelA"), ("entry|modelb partitioned", "ModelB")):
        results = load.between(*windows[name])
        s = summary(results)
        assert s["requests"] > 0 and s["lost"] == 0, (name, s)
        # Degraded (the other model answered) or a 503, and never later than the model call's
        # timeout allows: 1 s, plus slack for a loaded machine and the sanitizer build.
        for t0, seconds, outcome, missing in results:
            assert outcome in ("full", "degraded", "failed 503"), (name, outcome)
            assert seconds < MODEL_TIMEOUT_S + 1.5, (name, seconds, outcome)
            if outcome == "degraded":
                assert [m.split(":")[0] for m in missing] == [model], missing
        assert s["degraded"] > 0, (name, s)
    assert total["lost"] == 0, report
    assert total["max_s"] < ENTRY_TIMEOUT_S, report
    # No restart: the processes that answered are the ones started, and all exit cleanly.
    assert {h: p.pid for h, p in net.procs.items()} == pids
    assert status == {h: 0 for h in HOSTS}, {h: net.log(h) for h in status if status[h]}
