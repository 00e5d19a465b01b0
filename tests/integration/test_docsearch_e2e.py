"""docsearch end to end: the whole graph (Search -> Preprocessor, TextModel || ImageModel, Fusion,
Ranker) served over HTTP by build/examples/docsearch, on real models and rendered lines.

Checks real answers: the committed request.json against the Python reference pipeline, exact text
on clean lines and the right top-1 for the fixed queries of two pages (the pages and queries
test_docsearch.py's reference test uses), the same ranking as reference.py, the degraded answer
when ImageModel cannot be reached, and bad input answered 4xx with a JSON body. A few requests
only: the machine has 2 shared cores.
"""
import base64
import json
import os
import sys
import time

import pytest
from conftest import BUILD, ROOT, Server

sys.path.insert(0, os.path.join(ROOT, "examples", "docsearch"))
import reference  # noqa: E402

PROG = os.path.join(BUILD, "examples", "docsearch")
DATA = os.path.join(ROOT, "build", "deps", "docsearch")
LINES = os.path.join(BUILD, "docsearch", "lines")
SRC = os.path.join(ROOT, "examples", "docsearch")
PAGES = (3, 13)
ENV = {"DOCSEARCH_DATA": DATA}


def start(*args, env=None):
    """Serves the graph; ready when /readyz says so (the models load in a second or two)."""
    s = Server(PROG, *args, env=dict(ENV, **(env or {})))
    s.start(wait_ready=False)
    deadline = time.monotonic() + 60
    while True:
        try:
            if s.get("/readyz").status == 200:
                return s
        except OSError:
            if s.proc.poll() is not None:
                raise AssertionError("docsearch exited:\n" + s.stderr())
        assert time.monotonic() < deadline, "not ready:\n" + s.stderr()
        time.sleep(0.05)


def finish(s):
    try:
        rc = s.stop(timeout=30)
        assert rc == 0, "docsearch exited %d:\n%s" % (rc, s.stderr())
    finally:
        s.close()


@pytest.fixture(scope="module")
def server():
    s = start()
    yield s
    finish(s)


@pytest.fixture(scope="module")
def ref():
    return reference.Reference(DATA, threads=1)


def search(server, body, status=200):
    r = server.post("search", body, timeout=120)
    assert r.status == status, r
    assert r.headers.get("content-type", "").startswith("application/json"), r
    return r.json()


def page_files(page):
    """The 10 clean pictures of a page and their true texts, in line order."""
    rows = []
    with open(os.path.join(LINES, "manifest.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            variant, n, p, path, text = line.rstrip("\n").split("\t", 4)
            if variant == "clean" and int(p) == page:
                rows.append((int(n), os.path.join(LINES, path), text))
    rows.sort()
    assert len(rows) == 10
    return [r[1] for r in rows], [r[2] for r in rows]


def pngs_of(files):
    out = []
    for path in files:
        with open(path, "rb") as f:
            out.append(f.read())
    return out


def b64(pngs):
    return [base64.b64encode(p).decode() for p in pngs]


def check_against_reference(got, want):
    assert [r["line"] for r in got["results"]] == [r["line"] for r in want["results"]]
    for g, w in zip(got["results"], want["results"]):
        assert g["text"] == w["text"]
        assert g["confidence"] == pytest.approx(w["confidence"], abs=1e-5)
        assert g["score"] == pytest.approx(w["score"], abs=1e-4)


def test_committed_request_matches_reference(server, ref):
    with open(os.path.join(SRC, "request.json"), encoding="utf-8") as f:
        req = json.load(f)
    got = search(server, req)
    assert got["missing"] == []
    assert len(got["results"]) == 10
    want = ref.search(req["query"], [base64.b64decode(i) for i in req["images"]])
    check_against_reference(got, want)
    query, target = reference.read_queries()[0]
    assert req["query"] == query
    assert reference.normalize_text(got["results"][0]["text"]).replace(" ", "") == \
        target.replace(" ", "")


@pytest.mark.parametrize("page", PAGES)
def test_clean_pages_exact_text_top1_and_reference_ranking(server, ref, page):
    files, truths = page_files(page)
    pngs = pngs_of(files)
    queries = [(q, t) for q, t in reference.read_queries() if t in truths]
    assert queries, "no fixed query on page %d" % page
    for i, (query, target) in enumerate(queries):
        got = search(server, {"query": query, "images": b64(pngs), "timings": i == 0})
        assert got["missing"] == []
        texts = {r["line"]: r["text"] for r in got["results"]}
        assert sorted(texts) == list(range(10))
        for n, truth in enumerate(truths):  # exact, runs of white space as one space
            assert reference.normalize_text(texts[n]) == truth, (n, texts[n], truth)
        assert got["results"][0]["line"] == truths.index(target), (query, got["results"][:3])
        if i == 0:
            t = got["timings_ms"]
            for key in ("preprocess", "models", "embed_lines", "fuse", "rank", "total",
                        "text_model_compute", "image_model_compute", "embed_lines_compute"):
                assert t[key] >= 0, (key, t)
            check_against_reference(got, ref.search(query, pngs))


def test_k_limits_the_answer(server):
    files, _ = page_files(PAGES[0])
    got = search(server, {"query": "total", "images": b64(pngs_of(files[:3])), "k": 2})
    assert len(got["results"]) == 2 and got["missing"] == []
    assert got["results"][0]["score"] >= got["results"][1]["score"]


@pytest.mark.parametrize("fault, code", [("fail", "EHANDLER"), ("sleep=3000", "ETIMEOUT")])
def test_degrades_when_image_model_fails(fault, code):
    s = start(env={"DOCSEARCH_OCR_FAULT": fault, "DOCSEARCH_OCR_TIMEOUT_MS": "500"})
    try:
        files, _ = page_files(PAGES[0])
        got = search(s, {"query": "how much", "images": b64(pngs_of(files[:2]))})
        assert got["results"] == []
        assert [m["service"] for m in got["missing"]] == ["ImageModel"], got
        assert got["missing"][0]["code"] == code, got
    finally:
        finish(s)


@pytest.mark.parametrize("body, word", [
    ({"images": []}, "query"),
    ({"query": "milk"}, "images"),
    ({"query": "milk", "images": []}, "images"),
    ({"query": "milk", "images": ["not base64 !"]}, "base64"),
    ({"query": "milk", "images": [base64.b64encode(b"GIF89a not a png").decode()]}, "images"),
    ({"query": 7, "images": ["iVBORw0KGgo="]}, "query"),
    ({"query": "milk", "images": ["iVBORw0KGgo="], "k": 0}, "k"),
])
def test_bad_input_is_4xx_json(server, body, word):
    r = server.post("search", body, timeout=60)
    assert 400 <= r.status < 500, r
    err = r.json()
    assert word in json.dumps(err), err


def test_not_json_is_400(server):
    r = server.post("search", raw=b"{\"query\": ", timeout=60)
    assert r.status == 400, r
    r.json()
