"""`serve` for a service graph: every service in its own process, supervised (lib/supervisor.c);
and `serve --service NAME`, one service of the graph alone.

graphsvc is Entry -> {Left, Right}; each answers `whoami` with its name and pid and `crash`s on
demand. Dependencies listen on unix sockets in the socket directory (here under tmp_path, so
that the tests can reach them), the entry on TCP.
"""
import os
import signal
import stat
import subprocess
import threading
import time

import pytest
from conftest import BUILD, Response, UnixHTTPConnection

GRAPHSVC = os.path.join(BUILD, "tests", "integration", "graphsvc")


# ---- helpers -------------------------------------------------------------------------------------

def alive(pid):
    """Is `pid` a live process (not gone, not a zombie waiting for a reaper)?"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_gone(pids, timeout=10):
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def readline(proc, timeout=20):
    """One line of the process's stdout, or an AssertionError after `timeout` seconds."""
    box = []
    t = threading.Thread(target=lambda: box.append(proc.stdout.readline().decode()), daemon=True)
    t.start()
    t.join(timeout)
    assert box, "no line on stdout within %ss" % timeout
    return box[0]


def unix_request(path, method, target, body=None, headers=None, timeout=5):
    conn = UnixHTTPConnection(path, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def healthz(path):
    """GET /healthz on a unix socket: the JSON, or None if nothing answers."""
    try:
        r = unix_request(path, "GET", "/healthz", timeout=2)
    except OSError:
        return None
    return r.json() if r.status == 200 else None


def crash(path=None, server=None):
    """POST /crash: the worker aborts, so the connection just ends."""
    try:
        if server:
            server.post("crash", {}, timeout=5)
        else:
            unix_request(path, "POST", "/crash", body="{}",
                         headers={"Content-Type": "application/json"})
    except OSError:
        pass
    except Exception as e:  # http.client.RemoteDisconnected and friends
        if "RemoteDisconnected" not in type(e).__name__ and "BadStatusLine" not in type(e).__name__:
            raise


def wait_new_pid(path, old_pid, timeout):
    """Polls /healthz on `path` until a process other than old_pid answers; returns its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = healthz(path)
        if h and h["pid"] != old_pid and h["ready"]:
            return h["pid"]
        time.sleep(0.02)
    return None


TABLE_HEADER = ["SERVICE", "PID", "WORKER", "CPUS", "GPUS", "MEMORY", "ADDRESS", "DEPENDS", "ON"]


def read_table(s):
    """Reads a supervisor's stdout up to "ready". Returns (table, lines): table maps a service
    name to {pid (of worker 0), workers (how many), address, depends, rows}, where rows is one
    {pid, worker, cpus, gpus, memory, address, depends} per worker, in order."""
    lines, table = [], {}
    header = None
    while True:
        line = readline(s.proc).rstrip("\n")
        assert line, "stdout ended before 'ready':\n" + s.stderr()
        if line == "ready":
            break
        lines.append(line)
        if line.startswith("SERVICE "):
            header = line
        elif header:
            name, pid, worker, cpus, gpus, memory, address, depends = line.split(None, 7)
            row = {"pid": int(pid), "worker": int(worker), "cpus": cpus, "gpus": gpus,
                   "memory": memory, "address": address, "depends": depends}
            entry = table.setdefault(name, {"pid": row["pid"], "workers": 0, "address": address,
                                            "depends": depends, "rows": []})
            entry["rows"].append(row)
            entry["workers"] += 1
    assert header and header.split() == TABLE_HEADER, header
    return table, lines


def start_graph(make_server, *args, env=None, unix=None, binary=GRAPHSVC):
    """Starts a graph (graphsvc's by default); reads its stdout up to "ready". Returns
    (server, table, lines) as read_table does."""
    s = make_server(binary, *args, env=env, unix=unix)
    table, lines = read_table(s)
    return s, table, lines


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().decode().split("\0")[:-1]


def run(*args, env=None, timeout=20):
    return subprocess.run([GRAPHSVC, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


# ---- a graph, each service in its own process ----------------------------------------------------

def test_serve_runs_each_service_in_its_own_process(make_server, tmp_path):
    sockets = tmp_path / "sockets"
    s, table, lines = start_graph(make_server, "--socket-dir", str(sockets))
    assert set(table) == {"Entry", "Left", "Right"}
    # The banner came first (Server.start checked it), then where else the entry listens.
    assert lines[0] == "Entry listening on unix:%s/Entry.sock" % sockets

    # The directory is private, and each dependency listens on its socket in it.
    assert stat.S_IMODE(os.stat(sockets).st_mode) == 0o700
    pids = {}
    for name in ("Left", "Right"):
        path = str(sockets / (name + ".sock"))
        assert table[name]["address"] == "unix:" + path
        h = healthz(path)
        assert h["service"] == name and h["ready"]
        r = unix_request(path, "POST", "/whoami", body="{}",
                         headers={"Content-Type": "application/json"})
        assert r.json() == {"service": name, "pid": h["pid"]}
        pids[name] = h["pid"]
    r = s.post("whoami", {})
    assert r.status == 200 and r.json()["service"] == "Entry"
    pids["Entry"] = r.json()["pid"]
    assert s.get("/healthz").json()["pid"] == pids["Entry"]

    # Three processes, none of them the supervisor, as the table says.
    assert len(set(pids.values())) == 3 and s.proc.pid not in pids.values()
    assert {n: row["pid"] for n, row in table.items()} == pids
    assert table["Entry"]["address"] == "http://127.0.0.1:%d" % s.port
    assert table["Entry"]["depends"] == "Left, Right"
    assert table["Left"]["depends"] == "-" and table["Right"]["workers"] == 1

    # The entry was told where its dependencies are.
    argv = cmdline(pids["Entry"])
    assert argv[1:4] == ["serve", "--service", "Entry"]
    assert "Left=unix:%s/Left.sock" % sockets in argv
    assert "Right=unix:%s/Right.sock" % sockets in argv

    # SIGTERM stops everything; the directory the supervisor created goes too.
    assert s.stop() == 0
    assert wait_gone(pids.values(), timeout=0), "children outlived the supervisor"
    assert not sockets.exists()


def test_default_socket_dir_is_private_and_removed(make_server, tmp_path):
    s, table, _ = start_graph(make_server, env={"TFN_RUNTIME_DIR": str(tmp_path)})
    dirs = [p for p in tmp_path.iterdir() if p.name.startswith("tiffin-")]
    assert len(dirs) == 1
    assert stat.S_IMODE(os.stat(dirs[0]).st_mode) == 0o700
    assert sorted(p.name for p in dirs[0].iterdir()) == ["Entry.sock", "Left.sock", "Right.sock"]
    assert table["Left"]["address"] == "unix:%s/Left.sock" % dirs[0]
    assert s.stop() == 0
    assert not dirs[0].exists()


def test_existing_socket_dir_is_kept_and_emptied(make_server, tmp_path):
    sockets = tmp_path / "mine"
    sockets.mkdir(mode=0o750)
    s, _, _ = start_graph(make_server, "--socket-dir", str(sockets))
    assert s.stop() == 0
    assert sockets.is_dir() and list(sockets.iterdir()) == []


def test_entry_unix_socket_and_traffic_flags_go_to_the_entry(make_server, tmp_path):
    path = str(tmp_path / "entry.sock")
    s, table, lines = start_graph(make_server, "--socket-dir", str(tmp_path / "s"),
                                  "--timeout", "1234", "--drain", "3000", unix=path)
    assert "Entry listening on unix:%s" % path in lines
    assert healthz(path)["pid"] == table["Entry"]["pid"]
    argv = cmdline(table["Entry"]["pid"])
    assert argv[argv.index("--timeout") + 1] == "1234"
    assert argv[argv.index("--drain") + 1] == "3000"
    assert "--timeout" not in cmdline(table["Left"]["pid"])
    assert s.stop() == 0
    assert not os.path.exists(path)


def test_sigint_stops_the_entry_first_then_dependencies(make_server, tmp_path):
    s, table, _ = start_graph(make_server, "--socket-dir", str(tmp_path / "s"))
    assert s.stop(signal.SIGINT) == 0
    assert wait_gone([row["pid"] for row in table.values()], timeout=0)
    err = s.stderr()
    order = [err.index("stopping service '%s'" % name) for name in ("Entry", "Right", "Left")]
    assert order == sorted(order), err


def test_sigterm_lets_the_entry_drain(make_server, tmp_path):
    s, table, _ = start_graph(make_server, "--socket-dir", str(tmp_path / "s"))
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", s.post("sleep", {"ms": 700})))
    t.start()
    deadline = time.monotonic() + 5
    while s.get("/healthz").json()["in_flight"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    s.proc.send_signal(signal.SIGTERM)
    t.join(10)
    assert result["r"].status == 200 and result["r"].json() == {"slept": 700}
    assert s.proc.wait(10) == 0  # (a second SIGTERM would mean: stop now)
    assert wait_gone([row["pid"] for row in table.values()], timeout=0)


def test_second_signal_kills_everything(make_server, tmp_path):
    s, table, _ = start_graph(make_server, "--socket-dir", str(tmp_path / "s"))

    def slow():
        try:
            s.post("sleep", {"ms": 8000}, timeout=15)
        except Exception:
            pass  # the entry is killed under it

    t = threading.Thread(target=slow)
    t.start()
    deadline = time.monotonic() + 5
    while s.get("/healthz").json()["in_flight"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(5) == 1
    assert time.monotonic() - t0 < 4
    assert wait_gone([row["pid"] for row in table.values()], timeout=0)
    assert "second signal" in s.stderr()
    t.join(15)


# ---- supervision ---------------------------------------------------------------------------------

def test_crashed_dependency_is_restarted(make_server, tmp_path):
    sockets = tmp_path / "s"
    s, table, _ = start_graph(make_server, "--socket-dir", str(sockets))
    left = str(sockets / "Left.sock")
    old = table["Left"]["pid"]
    crash(left)
    new = wait_new_pid(left, old, timeout=2)
    assert new, "Left was not restarted within 2 s:\n" + s.stderr()
    assert not alive(old)
    assert healthz(str(sockets / "Right.sock"))["pid"] == table["Right"]["pid"]  # untouched
    assert s.post("whoami", {}).json()["pid"] == table["Entry"]["pid"]
    err = s.stderr()
    assert "service 'Left' worker 0 (pid %d) killed by signal %d" % (old, signal.SIGABRT) in err
    assert "restarted service 'Left' worker 0 (pid %d)" % new in err
    assert s.stop() == 0
    assert wait_gone([new, table["Right"]["pid"], table["Entry"]["pid"]], timeout=0)


def test_crashed_entry_is_restarted_on_the_same_port(make_server, tmp_path):
    sockets = tmp_path / "s"
    s, table, _ = start_graph(make_server, "--socket-dir", str(sockets))
    old = table["Entry"]["pid"]
    crash(server=s)
    new = wait_new_pid(str(sockets / "Entry.sock"), old, timeout=2)
    assert new, s.stderr()
    r = s.post("whoami", {})  # the port the entry picked with --port 0 the first time
    assert r.status == 200 and r.json() == {"service": "Entry", "pid": new}
    assert s.stop() == 0


def test_crash_loop_leaves_the_service_down(make_server, tmp_path):
    sockets = tmp_path / "s"
    s, table, _ = start_graph(make_server, "--socket-dir", str(sockets))
    right = str(sockets / "Right.sock")
    pid = table["Right"]["pid"]
    for i in range(6):  # restarted after 100, 200, 400, 800, 1600 ms; the sixth crash is one too many
        crash(right)
        if i < 5:
            pid = wait_new_pid(right, pid, timeout=5)
            assert pid, s.stderr()
    deadline = time.monotonic() + 3
    while "crash loop" not in s.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "service 'Right'" in s.stderr() and "crash loop" in s.stderr()
    time.sleep(0.3)
    assert healthz(right) is None  # left down
    assert healthz(str(sockets / "Left.sock"))["pid"] == table["Left"]["pid"]  # others serve
    assert s.post("whoami", {}).status == 200
    assert s.stop() == 1  # not every service ended well
    assert wait_gone([table["Left"]["pid"], table["Entry"]["pid"]], timeout=0)


def test_children_die_with_a_killed_supervisor(make_server, tmp_path):
    s, table, _ = start_graph(make_server, "--socket-dir", str(tmp_path / "s"))
    pids = [row["pid"] for row in table.values()]
    s.proc.kill()
    s.proc.wait(5)
    assert wait_gone(pids, timeout=10), "children outlived a SIGKILLed supervisor"


def test_service_failing_at_start_stops_the_others(tmp_path):
    sockets = tmp_path / "s"
    p = run("serve", "--port", "0", "--socket-dir", str(sockets),
            env={"GRAPHSVC_INIT_FAIL": "Right"})
    assert p.returncode == 1, p.stderr
    assert "service 'Right'" in p.stderr and "before it was ready" in p.stderr
    assert "listening on http" not in p.stdout  # the entry never started
    started = [int(line.split("(pid ")[1].split(")")[0]) for line in p.stderr.splitlines()
               if "started service" in line]
    assert len(started) == 2
    assert wait_gone(started, timeout=0)
    assert not sockets.exists()


def test_start_timeout(tmp_path):
    t0 = time.monotonic()
    p = run("serve", "--port", "0", "--socket-dir", str(tmp_path / "s"), "--start-timeout", "300",
            env={"GRAPHSVC_INIT_MS": "Left:1500"})
    assert p.returncode == 1
    assert "service 'Left'" in p.stderr and "did not become ready within 300 ms" in p.stderr
    assert time.monotonic() - t0 < 10


def test_depends_override_replaces_a_local_service(make_server, tmp_path):
    right_path = str(tmp_path / "right.sock")
    right = make_server(GRAPHSVC, "--service", "Right", unix=right_path, tcp=False)
    right_pid = healthz(right_path)["pid"]
    s, table, _ = start_graph(make_server, "--socket-dir", str(tmp_path / "s"),
                              "--depends", "Right=unix:" + right_path)
    assert set(table) == {"Entry", "Left"}  # Right runs elsewhere
    assert table["Entry"]["depends"] == "Left, Right=unix:" + right_path
    assert "Right=unix:" + right_path in cmdline(table["Entry"]["pid"])
    assert s.stop() == 0
    assert alive(right_pid) and healthz(right_path)["pid"] == right_pid


# ---- one service alone ---------------------------------------------------------------------------

def test_one_service_alone(make_server, tmp_path):
    path = str(tmp_path / "left.sock")
    s = make_server(GRAPHSVC, "--service", "Left", unix=path, tcp=False)
    h = s.get("/healthz").json()
    assert h["service"] == "Left" and h["pid"] == s.proc.pid  # in this very process
    assert s.post("whoami", {}).json() == {"service": "Left", "pid": s.proc.pid}
    assert s.post("sleep", {"ms": 1}).status == 404  # Entry's API, not Left's


def test_one_service_alone_with_its_dependencies(make_server, tmp_path):
    left = str(tmp_path / "left.sock")
    right = str(tmp_path / "right.sock")
    make_server(GRAPHSVC, "--service", "Left", unix=left, tcp=False)
    make_server(GRAPHSVC, "--service", "Right", unix=right, tcp=False)
    s = make_server(GRAPHSVC, "--service", "Entry", "--depends", "Left=unix:" + left,
                    "--depends", "Right=unix:" + right)
    assert s.post("whoami", {}).json() == {"service": "Entry", "pid": s.proc.pid}


@pytest.mark.parametrize("args, message", [
    (["--service", "Nope"], "no service called 'Nope'; this program has: Left, Right, Entry"),
    (["--depends", "Left"], "--depends wants NAME=URL"),
    (["--depends", "=unix:/x"], "--depends wants NAME=URL"),
    (["--depends", "Left=ftp://x"], "is not http://HOST:PORT or unix:/PATH"),
    (["--depends", "Left=unix:"], "is not http://HOST:PORT or unix:/PATH"),
    (["--depends", "Nope=unix:/x"], "no service of the graph of 'Entry' has a dependency called 'Nope'"),
    (["--service", "Left", "--depends", "Right=unix:/x"],
     "service 'Left' has no dependency called 'Right'"),
    (["--depends", "Left=unix:/a", "--depends", "Left=unix:/b"], "--depends Left given twice"),
    (["--start-timeout", "0"], "--start-timeout"),
])
def test_serve_usage_errors(args, message):
    p = run("serve", "--port", "0", *args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert message in p.stderr
    assert p.stdout == ""


def test_serve_help_names_the_graph_options():
    p = run("serve", "--help")
    assert p.returncode == 0
    for flag in ("--service NAME", "--depends NAME=URL", "--socket-dir DIR", "--start-timeout MS"):
        assert flag in p.stdout
