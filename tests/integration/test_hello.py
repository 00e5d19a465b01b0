"""The hello example, called the way its header comment tells a user to call it."""
import math


def test_greet(hello):
    r = hello.post("greet", {"name": "Ada"})
    assert r.status == 200 and r.json() == {"message": "Hello, Ada!"}


def test_greet_rejects_empty_name(hello):
    r = hello.post("greet", {"name": ""})
    assert r.status == 400 and "empty" in r.json()["error"]


def test_stats(hello):
    r = hello.post("stats", {"x": [[1, 2], [3, 4]]})
    assert r.status == 200
    out = r.json()
    assert out["count"] == 4 and out["mean"] == 2.5 and out["shape"] == [2, 2]
    assert math.isclose(out["std"], math.sqrt(1.25)) and out["min"] == 1 and out["max"] == 4


def test_stats_of_a_scalar_and_of_nothing(hello):
    assert hello.post("stats", {"x": 7}).json()["shape"] == []
    r = hello.post("stats", {"x": []})
    assert r.status == 400 and r.json()["code"] == "EINVAL"


def test_scale(hello):
    r = hello.post("scale", {"x": [[1.5, -2], [0.25, 3]], "factor": 2})
    assert r.status == 200 and r.json() == [[3.0, -4.0], [0.5, 6.0]]
    assert hello.post("scale", {"x": [0.1]}).json() == [0.1]  # float32 printed shortest


def test_bad_inputs(hello):
    assert hello.post("stats", {"x": "1,2,3"}).status == 400
    assert hello.post("stats", {}).status == 400
    assert hello.post("greet", raw="{").status == 400
    assert hello.post("nothere", {}).status == 404
    assert hello.get("/greet").status == 405
    assert hello.post("greet", raw="name=x", content_type="text/plain").status == 415
