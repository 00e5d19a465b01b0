"""Shared memory between services on one host (docs/design.md "Shared memory on one host"):
large tensors of calls over unix sockets travel through a region per connection, by reference,
with the same answers as inline; and a peer that sends bad regions or bad references — a raw
client on the dependency's socket, or a fake dependency answering the caller — gets a clear
error, never a crash (tests/integration/shmsvc.c is the graph)."""
import fcntl
import json
import mmap
import os
import socket
import struct
import threading

import pytest

from conftest import BUILD

SHMSVC = os.path.join(BUILD, "tests", "integration", "shmsvc")
MIB = 1 << 20


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.fixture
def graph(make_server):
    return make_server(SHMSVC)


def post_ok(s, api, body):
    r = s.post(api, body, timeout=60)
    assert r.status == 200, r
    return r.json()


def test_large_tensors_travel_by_shared_memory_with_the_same_answers(graph, make_server):
    # echo (back where it came from), scale (the dependency writes into its input: ours is
    # unchanged), make (a new tensor from the dependency's region), each checked by Front
    assert post_ok(graph, "check", {"n": 300000, "calls": 10}) == {"calls": 10, "ok": True}
    st = post_ok(graph, "stat", {})
    assert st["front"]["regions"] >= 2 and st["store"]["regions"] >= 2, st  # it did use them
    # answers kept alive while later calls run are never overwritten by them
    assert post_ok(graph, "check", {"n": 300000, "calls": 8, "keep": True})["ok"]
    # calls at once, each on its own connection and region, each with its own answer
    assert post_ok(graph, "parallel", {"n": 200000, "k": 16}) == {"ok": True}
    # tensors under the threshold stay inline, and mixed objects work
    assert post_ok(graph, "check", {"n": 1000, "calls": 3})["ok"]
    # no descriptors or regions leak: the same work again leaves the counts where they were
    post_ok(graph, "check", {"n": 300000, "calls": 5})
    before = post_ok(graph, "stat", {})
    for _ in range(3):
        post_ok(graph, "check", {"n": 300000, "calls": 5})
        post_ok(graph, "parallel", {"n": 200000, "k": 16})
    after = post_ok(graph, "stat", {})
    for side in ("front", "store"):
        assert after[side]["fds"] <= before[side]["fds"] + 2, (before, after)
        assert after[side]["regions"] <= before[side]["regions"], (before, after)
    # the same answers with shared memory off
    off = make_server(SHMSVC, env={"TFN_SHM": "off"})
    assert post_ok(off, "check", {"n": 300000, "calls": 4, "keep": True})["ok"]
    assert post_ok(off, "parallel", {"n": 200000, "k": 8}) == {"ok": True}
    st = post_ok(off, "stat", {})
    assert st["front"]["regions"] == 0 and st["store"]["regions"] == 0, st


def test_a_64_mib_tensor_hop_within_memory_bounds(graph):
    r = post_ok(graph, "big", {"mb": 64})
    n = 64 << 18
    assert r["sum"] == pytest.approx(sum(1 + 0.5 * (i % 100000) for i in range(100000)) * (n // 100000)
                                     + sum(1 + 0.5 * i for i in range(n % 100000)), rel=1e-6)
    st = post_ok(graph, "stat", {})
    # Front: the 64 MiB tensor it built, its region (64 MiB, shared); Store maps that region and
    # answers by reference into it: no copy of 64 MiB anywhere else
    front, store = rss_kib(st["front"]["pid"]), rss_kib(st["store"]["pid"])
    assert front < 3 * 64 * 1024 + 64 * 1024, front
    assert store < 2 * 64 * 1024, store
    # and a second time reuses the regions (no new ones)
    post_ok(graph, "big", {"mb": 64})
    assert post_ok(graph, "stat", {})["store"]["regions"] == st["store"]["regions"]


def test_the_dependency_dying_mid_call_is_a_clear_error(graph):
    t = {"n": 0}
    r = graph.post("forward", {"api": "crash", "input": {"t": list(range(70000))}}, timeout=30)
    assert r.status == 502 and r.json()["code"] == "EIO", r
    del t
    # the worker is restarted; new connections, new regions, right answers
    for _ in range(50):
        r = graph.post("check", {"n": 300000, "calls": 2}, timeout=30)
        if r.status == 200:
            break
    assert r.status == 200 and r.json()["ok"], r


# ---- a hostile client on the dependency's own socket ----------------------------------------

def wire_ref(key, n, region, offset, dtype=0):
    """A binary body {key: tensor reference}: tag 0A, dtype, ndim 1, shape, region, offset."""
    k = key.encode()
    return (b"\x89TFN\x01\x00\x00\x00" + b"\x08" + struct.pack("<I", 1) + struct.pack("<I", len(k))
            + k + bytes([0x0A, dtype, 1]) + struct.pack("<q", n) + bytes([region])
            + struct.pack("<Q", offset))


def region(size, seals=fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW):
    fd = os.memfd_create("test-region", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    if seals:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    return fd


def send(path, api, body, shm_len=None, fds=(), accept="application/vnd.tiffin"):
    """One request on a fresh unix connection, `fds` attached to its head; returns
    (status, headers, body) of the answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    head = (f"POST /{api} HTTP/1.1\r\nHost: t\r\nContent-Type: application/vnd.tiffin\r\n"
            f"Accept: {accept}\r\nContent-Length: {len(body)}\r\n")
    if shm_len is not None:
        head += f"X-Tiffin-Shm: {shm_len}\r\n"
    head = (head + "\r\n").encode()
    if fds:
        socket.send_fds(s, [head], list(fds))
    else:
        s.sendall(head)
    s.sendall(body)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", 0))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    s.close()
    return status, headers, rest


@pytest.fixture
def store(make_server, tmp_path):
    path = str(tmp_path / "store.sock")
    s = make_server(SHMSVC, "--service", "Store", unix=path)
    s.path = path
    return s


def test_bad_regions_and_references_are_400s_and_the_dependency_lives_on(store):
    p, n = store.path, 16384  # 64 KiB of float32: by reference
    body = wire_ref("t", n, 0, 0)
    cases = [
        ("announced, none sent", 1 << 20, [], "no descriptor came"),
        ("a pipe, not a memfd", 1 << 20, "pipe", "not a memfd"),
        ("not sealed", 1 << 20, "unsealed", "not sealed"),
        ("a size other than announced", 2 << 20, "region", "were announced"),
    ]
    for what, announced, kind, message in cases:
        fds = []
        if kind == "pipe":
            r, w = os.pipe()
            fds, close = [r], [r, w]
        elif kind == "unsealed":
            fds = close = [region(1 << 20, seals=0)]
        elif kind == "region":
            fds = close = [region(1 << 20)]
        else:
            close = []
        status, headers, answer = send(p, "sum", body, announced, fds)
        for fd in close:
            os.close(fd)
        assert status == 400, (what, status, answer)
        err = json.loads(answer)
        assert err["code"] == "EBADWIRE" and message in err["error"], (what, err)
        assert headers.get("connection") == "close", what
    # a good region, then references into it: outside, misaligned, to a region that is not there
    fd = region(1 << 20)
    m = mmap.mmap(fd, 1 << 20)
    struct.pack_into("<4f", m, 4096, 1.5, 2.5, 3.5, 4.5)
    bad = [(wire_ref("t", n, 0, (1 << 20) - 4096), "outside"),
           (wire_ref("t", n, 0, 4), "multiple of 8"),
           (wire_ref("t", n, 1, 0), "the receiver's region, and there is none"),
           (wire_ref("t", n, 7, 0), "region 7"),
           (wire_ref("t", 1 << 40, 0, 0), "outside")]
    for b, message in bad:
        status, _, answer = send(p, "sum", b, 1 << 20, [fd])
        assert status == 400 and message in json.loads(answer)["error"], (message, answer)
    # good ones: the sum of what lies there, and an echo whose answer points back into our
    # region (no copy either way)
    status, _, answer = send(p, "sum", wire_ref("t", 4, 0, 4096), 1 << 20, [fd],
                             accept="application/json")
    assert status == 200 and json.loads(answer) == {"n": 4, "sum": 12.0}, answer
    status, _, answer = send(p, "echo", wire_ref("t", n, 0, 4096), 1 << 20, [fd])
    assert status == 200, answer
    assert bytes([0x0A, 0, 1]) + struct.pack("<q", n) + bytes([1]) + struct.pack("<Q", 4096) in answer
    os.close(fd)
    m.close()
    r = store.get("/healthz")
    assert r.status == 200


def test_a_flood_of_descriptors_closes_the_connection(store):
    fds = [region(4096) for _ in range(6)]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(store.path)
    socket.send_fds(s, [b"POST /stat HTTP/1.1\r\nHost: t\r\n"], fds)
    assert s.recv(100) == b""  # closed without an answer
    s.close()
    for fd in fds:
        os.close(fd)
    assert store.get("/healthz").status == 200


# ---- a hostile dependency answering the caller ---------------------------------------------------

class FakeStore:
    """Answers /readyz, and every call with `answer(head_bytes) -> (head, body, fds)`."""

    def __init__(self, path, answer):
        self.answer = answer
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.conn, args=(c,), daemon=True).start()

    def conn(self, c):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                while len(buf) < length:
                    buf += c.recv(65536)
                buf = buf[length:]
                if head.startswith(b"GET /readyz") or head.startswith(b"GET /healthz"):
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    continue
                extra, body, fds = self.answer(head)
                out = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.tiffin\r\n"
                       b"Content-Length: %d\r\n" % len(body) + extra + b"\r\n")
                if fds:
                    socket.send_fds(c, [out], fds)
                else:
                    c.sendall(out)
                c.sendall(body)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


def test_a_dependency_sending_bad_regions_is_a_clear_error_for_its_caller(make_server, tmp_path):
    path = str(tmp_path / "fake.sock")
    good = region(1 << 20)
    answers = {
        "no descriptor": (b"X-Tiffin-Shm: 1048576\r\n", wire_ref("t", 16384, 0, 0), []),
        "no region": (b"", wire_ref("t", 16384, 0, 0), []),
        "outside": (b"X-Tiffin-Shm: 1048576\r\n", wire_ref("t", 16384, 0, 1 << 20), [good]),
        "unsealed": (b"X-Tiffin-Shm: 4096\r\n", wire_ref("t", 16, 0, 0), None),
    }
    expected = {"no descriptor": "without sending it", "no region": "there is none",
                "outside": "outside", "unsealed": "not sealed"}
    which = {"case": None}

    def answer(head):
        extra, body, fds = answers[which["case"]]
        if fds is None:
            fds = [region(4096, seals=0)]
        return extra, body, fds

    fake = FakeStore(path, answer)
    try:
        front = make_server(SHMSVC, "--service", "Front", "--depends", f"Store=unix:{path}")
        big = {"api": "echo", "input": {"t": [0.5] * 20000}}
        for case in answers:
            which["case"] = case
            r = front.post("forward", big, timeout=20)
            assert r.status == 502, (case, r)
            err = r.json()
            assert err["code"] == "EPROTO" and expected[case] in err["error"], (case, err)
            assert err["service"] == "Store"
        assert front.get("/healthz").status == 200
    finally:
        fake.close()
        os.close(good)
