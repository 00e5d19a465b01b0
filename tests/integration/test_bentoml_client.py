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
