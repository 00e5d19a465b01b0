"""KServe v2 / Open Inference Protocol, driven by Triton's own client (tritonclient[http]):
health, server and model metadata, infer with JSON and with binary tensors, and errors."""
import json
import os
import struct

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException
from conftest import BUILD, ROOT, TESTSVC

MODELSVC = os.path.join(os.path.dirname(TESTSVC), "modelsvc")


@pytest.fixture
def models(make_server):
    return make_server(MODELSVC)


@pytest.fixture
def client(models):
    c = httpclient.InferenceServerClient("127.0.0.1:%d" % models.port)
    yield c
    c.close()


def scale_inputs(binary):
    x = httpclient.InferInput("x", [2, 3], "FP32")
    x.set_data_from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3), binary_data=binary)
    k = httpclient.InferInput("k", [1], "FP32")
    k.set_data_from_numpy(np.array([1.5], dtype=np.float32), binary_data=binary)
    return [x, k]


def test_health_and_metadata(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("scale") and not client.is_model_ready("greet")
    meta = client.get_server_metadata()
    assert meta["name"] == "ModelSvc" and meta["version"] == "1.2.3"
    assert "binary_tensor_data" in meta["extensions"]
    m = client.get_model_metadata("scale")
    assert m["name"] == "scale" and m["versions"] == ["1"]
    assert m["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3]},
                           {"name": "k", "datatype": "FP32", "shape": [1]}]
    assert client.get_model_metadata("scale", model_version="1")["name"] == "scale"
    with pytest.raises(InferenceServerException, match="no model 'greet'"):
        client.get_model_metadata("greet")  # a string input: not a tensor API


@pytest.mark.parametrize("binary", [False, True])
def test_infer(client, binary):
    outputs = [httpclient.InferRequestedOutput("y", binary_data=binary),
               httpclient.InferRequestedOutput("total", binary_data=binary)]
    r = client.infer("scale", scale_inputs(binary), outputs=outputs, request_id="req-7")
    y = r.as_numpy("y")
    assert y.dtype == np.float32 and y.shape == (2, 3)
    assert y.tolist() == [[0.0, 1.5, 3.0], [4.5, 6.0, 7.5]]
    assert r.as_numpy("total").tolist() == [22.5]
    resp = r.get_response()
    assert resp["model_name"] == "scale" and resp["id"] == "req-7"
    assert [o["name"] for o in resp["outputs"]] == ["y", "total"]  # only those asked for


def test_infer_all_outputs_and_tensor_output(client):
    r = client.infer("scale", scale_inputs(True))  # no outputs named: every one, JSON
    assert r.as_numpy("rows").tolist() == [2]
    a = httpclient.InferInput("a", [4], "INT64")
    a.set_data_from_numpy(np.array([1, -2, 3, 2**40], dtype=np.int64))
    r = client.infer("plus_one", [a], outputs=[httpclient.InferRequestedOutput("output")])
    assert r.as_numpy("output").tolist() == [2, -1, 4, 2**40 + 1]


def test_infer_errors(client, models):
    x, k = scale_inputs(False)
    with pytest.raises(InferenceServerException, match="missing field 'k'"):
        client.infer("scale", [x])
    wrong = httpclient.InferInput("x", [2, 3], "FP64")  # declared float32
    wrong.set_data_from_numpy(np.zeros((2, 3)), binary_data=True)
    with pytest.raises(InferenceServerException, match="'x'"):
        client.infer("scale", [wrong, k])
    bad_shape = httpclient.InferInput("x", [2, 4], "FP32")
    bad_shape.set_data_from_numpy(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="'x'"):
        client.infer("scale", [bad_shape, k])
    with pytest.raises(InferenceServerException, match="no output 'nope'"):
        client.infer("scale", [x, k], outputs=[httpclient.InferRequestedOutput("nope")])
    with pytest.raises(InferenceServerException, match="no model 'nope'"):
        client.infer("nope", [x, k])

    def post(body, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return models.request("POST", "/v2/models/scale/infer", body=body, headers=h)

    for body, status, fragment in [
        (b"{", 400, "line 1"),
        (b"[]", 400, "JSON object"),
        (b'{"inputs": 3}', 400, "inputs"),
        (b'{"inputs": [{"name": "x", "datatype": "FP16", "shape": [1], "data": [1]}]}', 400,
         "FP16"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "data": [1, 2]}]}',
         400, "2 elements"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": ["a"]}]}', 400,
         "element 0"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1], "data": []}]}', 400,
         "shape"),
        (b'{"inputs": [{"name": "q", "datatype": "FP32", "shape": [1], "data": [1]}]}', 400,
         "no input 'q'"),
    ]:
        r = post(body)
        assert r.status == status, (body, r)
        assert fragment in r.json()["error"], (body, r.json())
    header = json.dumps({"inputs": [
        {"name": "x", "datatype": "FP32", "shape": [1, 3], "parameters": {"binary_data_size": 12}},
        {"name": "k", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": 4}}]})
    data = struct.pack("<4f", 1, 2, 3, 2)
    hl = {"Inference-Header-Content-Length": str(len(header))}
    assert post(header.encode() + data, hl).status == 200
    assert "ends inside" in post(header.encode() + data[:10], hl).json()["error"]
    assert "belong to no input" in post(header.encode() + data + b"xx", hl).json()["error"]
    r = post(header.encode(), {"Inference-Header-Content-Length": "99999"})
    assert r.status == 400 and "exceeds the body" in r.json()["error"]
    r = post(b"{}", {"Inference-Header-Content-Length": "x1"})
    assert r.status == 400
    r = models.request("GET", "/v2/models/scale/infer")
    assert r.status == 405 and r.headers["allow"] == "POST"
    assert models.get("/v2/models/scale/explain").status == 404
    assert models.get("/v2/nothing").status == 404
    assert models.get("/livez").status == 200


def test_an_onnx_model_is_a_kserve_model(make_server):
    """`tiffin serve MODEL.onnx` (the ONNX backend) gets KServe v2 with nothing more: the digits
    MLP through tritonclient, binary tensors, against Python onnxruntime's answers."""
    models = os.path.join(ROOT, "build", "deps", "models")
    rows = [line.split() for line in open(os.path.join(models, "digits-mlp-expected.txt"))][:8]
    pixels = np.array([[float(v) for v in r[:64]] for r in rows], dtype=np.float32)
    expected = np.array([[float(v) for v in r[64:74]] for r in rows], dtype=np.float32)
    s = make_server(os.path.join(BUILD, "tiffin"), os.path.join(models, "digits-mlp.onnx"))
    c = httpclient.InferenceServerClient("127.0.0.1:%d" % s.port)
    try:
        assert c.is_model_ready("predict")
        meta = c.get_model_metadata("predict")
        assert meta["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 64]}]
        x = httpclient.InferInput("X", list(pixels.shape), "FP32")
        x.set_data_from_numpy(pixels, binary_data=True)
        r = c.infer("predict", [x])
        names = [o["name"] for o in r.get_response()["outputs"]]
        probs = next(r.as_numpy(n) for n in names if r.as_numpy(n).shape == (8, 10))
        assert np.allclose(probs, expected, atol=1e-5)
        assert probs.argmax(axis=1).tolist() == [int(r[74]) for r in rows]
    finally:
        c.close()
