"""The digits demo end to end: `digits serve --port 0` runs the whole graph (Digits, Preprocessing,
four model services, Aggregator, Postprocessing; one process each) and the held-out rows go
through the HTTP API.

The held-out rows are BUILD/digits/test.csv (written by digits-train when digits.mk trains): 359
rows of 64 pixels 0..16 and the label. The models are BUILD/digits/models (found by the program
beside itself). Faults are injected with DIGITS_FAULT, which only the model services honour.
"""
import base64
import csv
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib

import pytest
from conftest import BUILD

DIGITS = os.path.join(BUILD, "examples", "digits")
DATA = os.path.join(BUILD, "digits")
MODELS = ("xgboost", "logreg", "svm", "mlp")


# ---- helpers -------------------------------------------------------------------------------------

def held_out():
    with open(os.path.join(DATA, "test.csv")) as f:
        rows = [[int(v) for v in r] for r in csv.reader(f)]
    assert len(rows) == 359 and all(len(r) == 65 for r in rows)
    return [r[:64] for r in rows], [r[64] for r in rows]


def png_grey(pixels):
    """An 8-bit greyscale PNG of a list of rows of 0..255, written by hand (zlib + struct)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    h, w = len(pixels), len(pixels[0])
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)  # filter type 0 on every row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def paper(row, scale):
    """A row drawn dark on white paper, each value a scale x scale square, grey 0..255."""
    return [[round(255 - row[(y // scale) * 8 + x // scale] * 255 / 16)
             for x in range(8 * scale)] for y in range(8 * scale)]


def b64(data):
    return base64.b64encode(data).decode()


def start(make_server, env=None):
    return make_server(DIGITS, env=env)


def classify(server, obj, status=200):
    r = server.post("classify", obj, timeout=30)
    assert r.status == status, r
    return r.json()


# ---- accuracy over HTTP --------------------------------------------------------------------------

def test_ensemble_accuracy_over_http(make_server):
    server = start(make_server)
    images, labels = held_out()
    results = []
    for first in range(0, len(images), 64):
        r = server.post("classify_batch", {"images": images[first:first + 64]}, timeout=60)
        assert r.status == 200, r
        body = r.json()
        assert body["missing"] == []
        assert len(body["results"]) == len(images[first:first + 64])
        results += body["results"]

    # Some single calls, as 64 values and as 8x8: the same answers as in the batches.
    for i in range(0, len(images), 45):
        pixels = images[i] if i % 2 else [images[i][r * 8:r * 8 + 8] for r in range(8)]
        one = classify(server, {"pixels": pixels})
        assert one["label"] == results[i]["label"] and one["votes"] == results[i]["votes"]
        assert one["missing"] == []
        assert abs(one["confidence"] - results[i]["confidence"]) < 1e-6

    n = len(labels)
    right = {m: sum(r["votes"][m] == y for r, y in zip(results, labels)) for m in MODELS}
    right["ensemble"] = sum(r["label"] == y for r, y in zip(results, labels))
    print("\nheld-out accuracy over HTTP (%d images)" % n)
    print("%-10s %8s %8s" % ("model", "right", "accuracy"))
    for m, k in right.items():
        print("%-10s %8d %8.4f" % (m, k, k / n))
    best = max(right[m] for m in MODELS)
    assert right["ensemble"] >= best, right
    assert right["ensemble"] / n >= 0.96, right


def test_cli_call_and_timings(make_server):
    server = start(make_server)
    images, labels = held_out()
    out = subprocess.run([DIGITS, "call", "classify", "--url", "http://127.0.0.1:%d" % server.port,
                          "--json", json.dumps({"pixels": images[0], "timings": True})],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out
    body = json.loads(out.stdout)
    assert body["label"] == labels[0]
    stages = body["timings_ms"]
    for k in ("preprocess", "models", "aggregate", "postprocess", "total"):
        assert stages[k] > 0
    assert sorted(stages["model_compute"]) == sorted(MODELS)
    assert stages["total"] >= stages["models"] >= max(stages["model_compute"].values())


# ---- pictures ------------------------------------------------------------------------------------

def test_png_and_pgm_uploads(make_server):
    server = start(make_server)
    images, labels = held_out()
    i = next(i for i, row in enumerate(images) if max(row) == 16)
    want = classify(server, {"pixels": images[i]})

    # A 32x32 PNG, dark on white: inverted, averaged to 8x8, 8-bit rounding only.
    got = classify(server, {"png": b64(png_grey(paper(images[i], 4)))})
    assert got["label"] == want["label"] and got["missing"] == []
    assert abs(got["confidence"] - want["confidence"]) < 0.02

    # An 8x8 P5 PGM with maxval 16, light on black: exactly the row.
    pgm = b"P5\n8 8\n16\n" + bytes(images[i])
    got = classify(server, {"pgm": b64(pgm)})
    assert got == want

    # A 24x24 P2 PGM, dark on white, with a comment.
    side = 24
    values = paper(images[i], 3)
    p2 = "P2\n# digit %d\n%d %d\n255\n" % (labels[i], side, side) + \
        "\n".join(" ".join(str(v) for v in row) for row in values) + "\n"
    got = classify(server, {"pgm": b64(p2.encode())})
    assert got["label"] == want["label"]


# ---- bad input -----------------------------------------------------------------------------------

def test_bad_input_gets_400(make_server):
    server = start(make_server)
    images, _ = held_out()
    good_png = png_grey(paper(images[0], 2))
    corrupt_png = bytearray(good_png)
    corrupt_png[40] ^= 0xFF  # inside IDAT: the CRC no longer matches
    cases = [
        ({}, "got none"),
        ({"pixels": images[0], "png": b64(good_png)}, "got 'pixels' and 'png'"),
        ({"png": b64(good_png), "pgm": b64(b"P5 1 1 1 \x00")}, "got 'png' and 'pgm'"),
        ({"pixels": images[0][:63]}, "64 values or 8 rows of 8"),
        ({"pixels": [images[0][:32], images[0][32:]]}, "64 values or 8 rows of 8"),
        ({"pixels": [17] + images[0][1:]}, "0..16"),
        ({"pixels": [-1] + images[0][1:]}, "0..16"),
        ({"png": b64(bytes(corrupt_png))}, "corrupt PNG"),
        ({"png": b64(b"GIF89a....")}, "not a PNG"),
        ({"png": "not base64!"}, "base64"),
        ({"pgm": b64(b"P5 8 8 255\n" + bytes(10))}, "truncated PGM"),
        ({"pixels": images[0], "extra": 1}, "extra"),
    ]
    for body, words in cases:
        r = server.post("classify", body)
        assert r.status == 400, (body, r)
        err = r.json()
        assert err["status"] == 400 and err["code"] in ("EINVAL", "ETYPE", "EMISSING"), err
        assert words in err["error"], (words, err)
    for body in ({"images": [images[0][:60]]}, {"images": []}, {"images": [[20] * 64]}, {}):
        r = server.post("classify_batch", body)
        assert r.status == 400, (body, r)
        assert "error" in r.json()
    # Still serving.
    assert classify(server, {"pixels": images[0]})["missing"] == []


# ---- graceful degradation ------------------------------------------------------------------------

@pytest.mark.parametrize("fault,code", [("svm:fail", "EHANDLER"), ("svm:sleep=5000", "ETIMEOUT")])
def test_degrades_when_a_model_fails(make_server, fault, code):
    server = start(make_server, env={"DIGITS_FAULT": fault, "DIGITS_MODEL_TIMEOUT_MS": "300"})
    images, labels = held_out()
    t0 = time.monotonic()
    got = classify(server, {"pixels": images[5]})
    assert time.monotonic() - t0 < 3
    assert got["label"] == labels[5]
    assert sorted(got["votes"]) == ["logreg", "mlp", "xgboost"]
    assert [m["model"] for m in got["missing"]] == ["svm"]
    assert got["missing"][0]["code"] == code, got
    if code == "EHANDLER":
        assert "DIGITS_FAULT=svm:fail" in got["missing"][0]["error"]

    r = server.post("classify_batch", {"images": images[:32]}, timeout=30)
    assert r.status == 200, r
    body = r.json()
    assert len(body["results"]) == 32 and [m["model"] for m in body["missing"]] == ["svm"]


def test_every_model_failing_is_502(make_server):
    server = start(make_server, env={"DIGITS_FAULT": "xgboost:fail,logreg:fail,svm:fail,mlp:fail"})
    images, _ = held_out()
    err = classify(server, {"pixels": images[0]}, status=502)
    assert err["code"] == "EDEPENDENCY" and "no model answered" in err["error"], err


# ---- model files ---------------------------------------------------------------------------------

def copy_models(tmp_path):
    d = tmp_path / "models"
    shutil.copytree(os.path.join(DATA, "models"), d)
    return d


@pytest.mark.parametrize("kind,service,damage", [
    ("xgboost.ubj", "XGBoost", "truncate"),
    ("svm.model", "SVM", "truncate"),
    ("mlp.bin", "MLP", "remove"),
])
def test_bad_model_file_stops_the_service(tmp_path, kind, service, damage):
    d = copy_models(tmp_path)
    path = d / kind
    if damage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    else:
        path.unlink()
    sock = str(tmp_path / "m.sock")
    out = subprocess.run([DIGITS, "serve", "--service", service, "--unix", sock],
                         env=dict(os.environ, DIGITS_MODELS=str(d)), capture_output=True,
                         timeout=60)
    assert out.returncode != 0, out
    assert str(path).encode() in out.stderr, out.stderr
    assert not os.path.exists(sock)


def test_missing_model_file_stops_the_graph(tmp_path):
    d = copy_models(tmp_path)
    (d / "logreg.model").unlink()
    out = subprocess.run([DIGITS, "serve", "--host", "127.0.0.1", "--port", "0"],
                         env=dict(os.environ, DIGITS_MODELS=str(d)), capture_output=True,
                         timeout=60)
    assert out.returncode == 1, out
    assert str(d / "logreg.model").encode() in out.stderr, out.stderr


def test_openapi_document_is_valid():
    doc = subprocess.run([DIGITS, "openapi"], capture_output=True, timeout=30, check=True).stdout
    paths = json.loads(doc)["paths"]
    assert "/classify" in paths and "/classify_batch" in paths
    check = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__),
                                                         "validate_openapi.py")],
                           input=doc, capture_output=True, timeout=60)
    assert check.returncode == 0, check.stderr
