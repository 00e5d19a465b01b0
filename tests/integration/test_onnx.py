"""ONNX models served by `build/tiffin serve MODEL.onnx`, compared with Python onnxruntime.

Models (scripts/fetch-onnx.sh and tests/onnx/export_digits.py put them in build/deps/models):
int8 all-MiniLM-L6-v2, the PP-OCRv4 text-line recogniser, the digits MLP. Tolerances: both sides
run ONNX Runtime 1.31.1 with one intra-op thread on the same inputs, so outputs agree to float
rounding; we allow 1e-4 absolute (MiniLM's int8 kernels may pick another path with more threads,
which differs by about 1e-3: threads are pinned to 1 on both sides here).
"""
import json
import os
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

from conftest import BUILD, ROOT

TIFFIN = os.path.join(BUILD, "tiffin")
ONNXGRAPH = os.path.join(BUILD, "tests", "integration", "onnxgraph")
MODELS = os.path.join(ROOT, "build", "deps", "models")
MINILM = os.path.join(MODELS, "minilm-int8.onnx")
OCR = os.path.join(MODELS, "ocr-rec.onnx")
DIGITS = os.path.join(MODELS, "digits-mlp.onnx")
TOL = 1e-4

SENTENCES = ["the cat sat on the mat", "tiffin serves models written in c",
             "a quick brown fox jumps over the lazy dog near the river bank today"]


def session(path):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def vocab():
    with open(os.path.join(MODELS, "minilm-vocab.txt"), encoding="utf-8") as f:
        return {w.rstrip("\n"): i for i, w in enumerate(f)}


def token_ids(vocab, sentence):
    """Whole-word WordPiece (every test word is in the vocabulary), with [CLS] and [SEP]."""
    return [vocab["[CLS]"]] + [vocab.get(w, vocab["[UNK]"]) for w in sentence.split()] + \
        [vocab["[SEP]"]]


def minilm_inputs(ids):
    ids = np.array([ids], dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids)}


def as_json(inputs):
    return {k: v.tolist() for k, v in inputs.items()}


@pytest.fixture
def minilm(make_server):
    return make_server(TIFFIN, MINILM, "--timeout", "20000")


def test_minilm_matches_python(minilm, vocab):
    ref = session(MINILM)
    for s in SENTENCES:
        inputs = minilm_inputs(token_ids(vocab, s))
        r = minilm.post("predict", as_json(inputs))
        assert r.status == 200, r
        got = np.array(r.json()["last_hidden_state"], dtype=np.float32)
        want = ref.run(None, inputs)[0]
        assert got.shape == want.shape == (1, len(inputs["input_ids"][0]), 384)
        assert np.abs(got - want).max() <= TOL
    # A batch of two, padded, in one request.
    a, b = token_ids(vocab, SENTENCES[0]), token_ids(vocab, SENTENCES[1])
    n = max(len(a), len(b))
    ids = np.array([a + [0] * (n - len(a)), b + [0] * (n - len(b))], dtype=np.int64)
    mask = (np.arange(n)[None, :] < np.array([[len(a)], [len(b)]])).astype(np.int64)
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    r = minilm.post("predict", as_json(inputs))
    assert r.status == 200, r
    got = np.array(r.json()["last_hidden_state"], dtype=np.float32)
    assert np.abs(got - ref.run(None, inputs)[0]).max() <= TOL


def test_docs_describe_the_model(minilm):
    doc = minilm.get("/docs.json").json()
    text = json.dumps(doc)
    for name in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state"):
        assert name in text
    assert "int64 [batch, sequence]" in text
    assert "/predict" in doc["paths"]


def test_bad_inputs_name_the_input(minilm, vocab):
    good = as_json(minilm_inputs(token_ids(vocab, SENTENCES[0])))

    def bad(body, status, *words):
        r = minilm.post("predict", body)
        assert r.status == status, r
        msg = r.json()["error"]
        for w in words:
            assert w in msg, (w, msg)

    bad(dict(good, extra=[[1]]), 400, "extra")                        # unknown input
    bad({k: v for k, v in good.items() if k != "attention_mask"}, 400, "attention_mask")
    bad(dict(good, input_ids=[[1.5, 2.5]]), 400, "input_ids", "int64")  # dtype
    bad(dict(good, input_ids=good["input_ids"][0]), 400, "input_ids", "[-1, -1]")   # rank
    bad(dict(good, attention_mask=[good["attention_mask"][0][:-1]]), 400, "attention_mask",
        "sequence")                                                   # named dims disagree
    r = minilm.post("predict", raw=b"{not json")
    assert r.status == 400


def test_too_many_elements(make_server):
    s = make_server(TIFFIN, DIGITS, "--max-elements", "640")
    x = np.zeros((10, 64), dtype=np.float32).tolist()
    assert s.post("predict", {"X": x}).status == 200
    r = s.post("predict", {"X": x + x[:1]})
    assert r.status == 413, r
    assert "'X'" in r.json()["error"] and "704 elements" in r.json()["error"]


def test_ocr_matches_python(make_server):
    s = make_server(TIFFIN, OCR, "--name", "ocr", "--timeout", "30000")
    ref = session(OCR)
    x = np.random.default_rng(7).random((1, 3, 48, 96), dtype=np.float32)
    r = s.post("predict", {"x": x.tolist()}, timeout=30)
    assert r.status == 200, r
    (name, got), = r.json().items()
    got = np.array(got, dtype=np.float32)
    want = ref.run(None, {"x": x})[0]
    assert name == ref.get_outputs()[0].name
    assert got.shape == want.shape and want.shape[2] == 6625
    assert np.abs(got - want).max() <= TOL
    assert (got.argmax(-1) == want.argmax(-1)).all()   # the same characters decoded
    r = s.post("predict", {"x": x[:, :2].tolist()})       # 2 channels, the model wants 3
    assert r.status == 400 and "'x'" in r.json()["error"] and "3" in r.json()["error"], r


def run_tiffin(*args, env=None, timeout=60):
    return subprocess.run([TIFFIN, "serve", *args, "--port", "0"], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, **(env or {})))


def test_missing_and_corrupt_model_files(tmp_path):
    p = run_tiffin(str(tmp_path / "nope.onnx"))
    assert p.returncode == 1 and "nope.onnx" in p.stderr, p
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07garbage, not a model" * 10)
    p = run_tiffin(str(corrupt))
    assert p.returncode == 1 and "corrupt.onnx" in p.stderr, p
    assert "rotobuf" in p.stderr or "parse" in p.stderr or "Load model" in p.stderr, p.stderr


def test_gpu_without_cuda_is_a_startup_error(make_server):
    # One pretend GPU (TFN_GPUS) so the supervisor hands it out; the CPU-only runtime cannot
    # use it, and the worker's start-up says so.
    p = run_tiffin(DIGITS, "--gpu", "1", env={"TFN_GPUS": "0"})
    assert p.returncode == 1, p
    assert "CUDA" in p.stderr and "digits-mlp.onnx" in p.stderr, p.stderr
    # Asked for: the CPU instead, with a warning; two workers on one core each.
    s = make_server(TIFFIN, DIGITS, "--gpu", "1", "--cpu-fallback", "--workers", "2", "--cpu",
                    "1", env={"TFN_GPUS": "0,1"})
    for line in iter(s.proc.stdout.readline, b""):         # every worker, not only the first
        if line.strip() == b"ready":
            break
    else:
        raise AssertionError("not every worker became ready:\n" + s.stderr())
    r = s.post("predict", {"X": [[0] * 64]})
    assert r.status == 200 and len(r.json()["probabilities"][0]) == 10, r
    assert "running it on the CPU instead" in s.stderr()


def mean_pool(vocab, sentence):
    inputs = minilm_inputs(token_ids(vocab, sentence))
    return session(MINILM).run(None, inputs)[0][0].mean(axis=0)


def test_model_file_in_a_c_graph(make_server, vocab):
    s = make_server(ONNXGRAPH, env={"ONNXGRAPH_MODEL": MINILM})
    for sentence in SENTENCES[:2]:
        r = s.post("embed", {"ids": token_ids(vocab, sentence)})
        assert r.status == 200, r
        assert np.abs(np.array(r.json()) - mean_pool(vocab, sentence)).max() <= TOL


def test_tiffin_serve_as_a_dependency_by_url(make_server, vocab, tmp_path):
    sock = str(tmp_path / "embed.sock")
    make_server(TIFFIN, MINILM, "--name", "Embed", unix=sock, tcp=False)
    s = make_server(ONNXGRAPH, "--depends", "Embed=unix:" + sock)
    r = s.post("embed", {"ids": token_ids(vocab, SENTENCES[2])})
    assert r.status == 200, r
    assert np.abs(np.array(r.json()) - mean_pool(vocab, SENTENCES[2])).max() <= TOL


def test_minilm_batched_requests_match_python(make_server, vocab):
    """`tiffin serve MODEL --batch 8`: concurrent one-sentence requests of one length share model
    calls (predict is stackable: every first dim of MiniLM is dynamic) and each caller gets its
    own rows, equal to the unbatched reference."""
    import concurrent.futures
    srv = make_server(TIFFIN, MINILM, "--timeout", "20000", "--batch", "8",
                      "--max-latency-ms", "50", "--threads", "1")
    ref = session(MINILM)
    words = ["cat", "dog", "mat", "fox", "river", "bank", "quick", "lazy"]
    sentences = [" ".join([words[i % 8], words[(i + i // 8 + 3) % 8], "sat"]) for i in range(16)]
    inputs = [minilm_inputs(token_ids(vocab, s)) for s in sentences]

    def one(i):
        r = srv.post("predict", as_json(inputs[i]), timeout=60)
        assert r.status == 200, r
        return np.array(r.json()["last_hidden_state"], dtype=np.float32)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        got = list(pool.map(one, range(16)))
    for i in range(16):
        want = ref.run(None, inputs[i])[0]
        assert got[i].shape == want.shape
        assert np.abs(got[i] - want).max() <= 1e-3  # a batch may take other int8 kernels
    batch = srv.get("/healthz").json()["batch"]["predict"]
    assert batch["rows"] == 16
    assert batch["batches"] < 16  # some requests shared a model call
