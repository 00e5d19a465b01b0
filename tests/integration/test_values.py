"""Honest values: NaN and infinities in an answer. JSON cannot carry them, so every float that is
one — a float value or a float tensor element — is null in a JSON answer (200), and the OpenAPI
document says so (nullable numbers in responses). The binary encodings carry them exactly:
tiffin's application/vnd.tiffin, and KServe v2's binary tensors."""
import math
import os

import numpy as np
import tritonclient.http as httpclient
from conftest import TESTSVC

MODELSVC = os.path.join(os.path.dirname(TESTSVC), "modelsvc")


def test_non_finite_floats_are_null_in_json(make_server):
    s = make_server(MODELSVC)
    r = s.post("ratio", {"a": [0.0, 1.0, -1.0, 1.0], "b": [0.0, 0.0, 0.0, 4.0]})
    assert r.status == 200, r
    assert r.json() == {"r": [None, None, None, 0.25], "first": None}
    doc = s.get("/docs.json").json()
    schema = doc["paths"]["/plus_one"]["post"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    number = next(o for o in schema["oneOf"] if o.get("type") == "number")
    assert number["nullable"] is True
    assert "null in JSON" in doc["paths"]["/ratio"]["post"]["responses"]["200"]["description"]


def test_non_finite_floats_are_exact_in_kserve_binary(make_server):
    s = make_server(MODELSVC)
    c = httpclient.InferenceServerClient("127.0.0.1:%d" % s.port)
    try:
        a = httpclient.InferInput("a", [3], "FP32")
        a.set_data_from_numpy(np.array([0, 1, -1], dtype=np.float32), binary_data=True)
        b = httpclient.InferInput("b", [3], "FP32")
        b.set_data_from_numpy(np.zeros(3, dtype=np.float32), binary_data=True)
        r = c.infer("ratio", [a, b], outputs=[httpclient.InferRequestedOutput("r", binary_data=True)])
        out = r.as_numpy("r")
        assert math.isnan(out[0]) and out[1] == math.inf and out[2] == -math.inf
    finally:
        c.close()
