"""BentoML's own Python client (bentoml==1.4.40 from PyPI) against tiffin services: it reads
GET /schema.json, calls APIs with keyword arguments, and raises BentoML's exceptions for 4xx/5xx.
BentoML is heavy, so it lives in build/venv-bentoml, made on first use by bentoml_venv.sh."""
import json
import os
import subprocess

import pytest
from conftest import ROOT, TESTSVC

HERE = os.path.dirname(os.path.abspath(__file__))
SEQUENTIAL = os.path.join(os.path.dirname(TESTSVC), "..", "..", "examples", "sequential")


@pytest.fixture(scope="module")
def bentoml_python():
    try:
        out = subprocess.run([os.path.join(HERE, "bentoml_venv.sh")], capture_output=True,
                             text=True, timeout=900, check=True)
    except subprocess.CalledProcessError as e:
        pytest.fail("cannot make the BentoML venv:\n" + e.stderr[-3000:])
    return os.path.join(ROOT, out.stdout.strip().splitlines()[-1])


def run_client(python, url, kind):
    out = subprocess.run([python, os.path.join(HERE, "bentoml_calls.py"), url, kind],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_schema_json_describes_every_api(svc):
    doc = svc.get("/schema.json").json()
    assert doc["name"] == "TestSvc" and doc["type"] == "service"
    routes = {r["name"]: r for r in doc["routes"]}
    assert set(routes) >= {"echo", "typed", "big", "fail"}
    typed = routes["typed"]
    assert typed["route"] == "/typed"
    assert typed["input"]["required"] == ["i", "f", "s", "b", "t"]
    assert typed["input"]["properties"]["t"] == {
        "title": "t", "type": "tensor", "format": "numpy-array", "dtype": "float32",
        "shape": [2, -1]}
    assert routes["big"]["output"]["type"] == "tensor"
    assert svc.request("POST", "/schema.json").status == 405


def test_bentoml_client_calls_testsvc(svc, bentoml_python):
    r = run_client(bentoml_python, "http://127.0.0.1:%d" % svc.port, "testsvc")
    s = r["sync"]
    assert s["typed"] == {"i": 42, "f": 2.0, "s": "héllo", "b": True, "t_sum": 21.5,
                          "t_dtype": "float32", "has_opt": False}
    assert s["echo"] == {"value": {"a": [1, 2]}}
    assert s["big"]["type"] == "ndarray" and s["big"]["list"] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert s["bad_type"]["status"] == 400 and s["is_invalid_argument"], s["bad_type"]
    assert s["bad_type"]["body"]["code"] == "ETYPE"
    assert s["reject"]["status"] == 400 and s["reject"]["class"] == "InvalidArgument"
    # BentoML maps 4xx to its own classes; a 500 is its base BentoMLException.
    assert s["fail"]["status"] == 500 and s["fail"]["class"] == "BentoMLException", s["fail"]
    assert s["fail"]["body"]["code"] == "EHANDLER"
    assert s["missing"].startswith("TypeError: Missing required arguments")
    assert r["async"] == {"reject": "InvalidArgument", "echo": {"value": [1, "two"]}}


def test_bentoml_client_calls_a_served_graph(make_server, bentoml_python):
    s = make_server(SEQUENTIAL)
    r = run_client(bentoml_python, "http://127.0.0.1:%d" % s.port, "sequential")
    assert r["sync"]["classify"]["label"] in ("low", "mid", "high")
    assert 0 < r["sync"]["classify"]["confidence"] <= 1
    assert len(r["async"]["classify"]) == 8


# BentoML 1.4.40's SyncHTTPClient cannot submit a task at all (its _submit ends by touching
# self._opened_files, which that class does not have: AttributeError, against any server), so the
# task calls go through its AsyncHTTPClient, whose _submit is sound.
TASKS_CLIENT = r'''
import asyncio, json, sys
import bentoml
from bentoml.exceptions import BentoMLException

async def settle(task):
    while (await task.get_status()).value in ("pending", "in_progress"):
        await asyncio.sleep(0.05)
    return (await task.get_status()).value

async def main():
    async with bentoml.AsyncHTTPClient(sys.argv[1]) as client:
        task = await client.work.submit(x=21, sleep_ms=200)
        out = {"first": (await task.get_status()).value}
        out["status"] = await settle(task)
        out["result"] = await task.get()
        failing = await client.work.submit(x=1, fail=True)
        out["failed_status"] = await settle(failing)
        try:
            await failing.get()
            out["failed_get"] = None
        except BentoMLException as e:
            out["failed_get"] = type(e).__name__
        again = await failing.retry()
        out["retry_is_new"] = again.id != failing.id
    print(json.dumps(out))

asyncio.run(main())
'''


def test_bentoml_client_submits_and_gets_tasks(make_server, bentoml_python, tmp_path):
    """BentoML's own task calls (Endpoint.submit, Task.get_status/get/retry) against tiffin's
    task endpoints: the schema says is_task, and statuses are BentoML's ResultStatus values."""
    from conftest import BUILD
    s = make_server(os.path.join(BUILD, "tests", "integration", "tasksvc"),
                    env={"TFN_DATA_DIR": str(tmp_path / "data")})
    routes = {r["name"]: r for r in s.get("/schema.json").json()["routes"]}
    assert routes["work"]["is_task"] is True
    out = subprocess.run([bentoml_python, "-c", TASKS_CLIENT, "http://127.0.0.1:%d" % s.port],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-4000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["first"] in ("pending", "in_progress") and r["status"] == "completed", r
    assert r["result"]["y"] == 42
    assert r["failed_status"] == "failed" and r["failed_get"] is not None, r
    assert r["retry_is_new"] is True


# BentoML's clients against examples/streaming's entry (Detokenizer.generate streams text): the
# schema marks the output "is_stream", so a call returns a (sync or async) generator of pieces.
STREAM_CLIENT = r'''
import asyncio, json, sys, time
import bentoml
from bentoml.exceptions import BentoMLException

url = sys.argv[1]
out = {}
with bentoml.SyncHTTPClient(url, server_ready_timeout=10) as c:
    start = time.monotonic()
    gen = c.generate(prompt="the cat", max_tokens=6, delay_ms=150)
    out["sync_type"] = type(gen).__name__
    pieces, arrivals = [], []
    for p in gen:
        pieces.append(p)
        arrivals.append(time.monotonic() - start)
    out["sync"], out["sync_arrivals"] = pieces, arrivals
    got = []
    try:
        for p in c.generate(prompt="the cat", max_tokens=6, delay_ms=20, fail_at=3):
            got.append(p)
        out["mid_error"] = "no exception"
    except Exception as e:
        out["mid_error"] = [type(e).__module__ + "." + type(e).__name__, "".join(got)]
    try:
        list(c.generate(prompt="the cat", fail_at=0))
        out["first_error"] = "no exception"
    except BentoMLException as e:
        out["first_error"] = {"class": type(e).__name__, "status": int(e.error_code),
                              "body": json.loads(e.message)}

async def main():
    async with bentoml.AsyncHTTPClient(url, server_ready_timeout=10) as c:
        gen = c.generate(prompt="the dog", max_tokens=5, delay_ms=20)
        out["async_type"] = type(gen).__name__
        out["async"] = [p async for p in gen]

asyncio.run(main())
print(json.dumps(out))
'''


def test_bentoml_client_reads_a_relayed_stream(make_server, bentoml_python):
    """BentoML's SyncHTTPClient and AsyncHTTPClient call examples/streaming's entry (Tokenizer ->
    Generator's stream -> Detokenizer's text stream, three processes) and get the pieces as a
    generator, as they come. /schema.json marks the route's output `"is_stream": true` with
    `"type": "string"`, as BentoML's Service.schema() does for a generator returning str; the
    client then yields one string per read of the chunked text/plain body (one per piece here,
    since the pieces are 150 ms apart; pieces that arrive together may come as one string, as
    with a BentoML server). On BentoML's side: an error mid-stream is not readable as an error —
    a text/plain stream has no error framing, tiffin ends it unterminated and the client raises
    httpx's RemoteProtocolError after the pieces already yielded; a failure before the first piece
    is an ordinary 500 that the client raises as BentoMLException with tiffin's error body."""
    from test_streaming import STREAMING, read_ready
    s = make_server(STREAMING, wait_ready=False)
    read_ready(s)
    s.wait_ready()
    route = {r["name"]: r for r in s.get("/schema.json").json()["routes"]}["generate"]
    assert route["output"] == {"title": "Output", "is_stream": True, "type": "string"}
    out = subprocess.run([bentoml_python, "-c", STREAM_CLIENT, "http://127.0.0.1:%d" % s.port],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-4000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["sync_type"] == "generator" and r["async_type"] == "async_generator", r
    assert "".join(r["sync"]) == "sat a flew saw bird mat"
    # Six pieces 150 ms apart come as several items, the first long before the last.
    assert len(r["sync"]) >= 4, r["sync"]
    assert r["sync_arrivals"][-1] - r["sync_arrivals"][0] >= 0.5, r["sync_arrivals"]
    assert "".join(r["async"]) == "ran away on cat sat"
    assert r["mid_error"] == ["httpx.RemoteProtocolError", "sat a flew"], r["mid_error"]
    fe = r["first_error"]
    assert fe["class"] == "BentoMLException" and fe["status"] == 500, fe
    assert fe["body"]["code"] == "EHANDLER" and fe["body"]["service"] == "Generator"
