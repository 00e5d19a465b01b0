"""The docsearch example's C functions against the Python they must match, on real data:

- WordPiece (docsearch-tool tokenize) against Hugging Face's `tokenizers` with the model's
  tokenizer.json, on about 900 lines: the corpus, the queries, hand-made hard cases and
  pseudo-random lines from many scripts (fixed seed);
- the recogniser's input (docsearch-tool prepare / resize) against RapidOCR 1.4.4's own
  TextRecognizer.resize_norm_img and OpenCV's cv2.resize;
- CTC decoding (docsearch-tool ctc) against RapidOCR's CTCLabelDecode, on the real PP-OCRv4
  model's output for rendered lines (onnxruntime) and on random probabilities;
- the renderer makes the same files again, and the committed request.json is a real request;
- the reference pipeline (examples/docsearch/reference.py) reads two pages of clean lines exactly
  and ranks the right line first for their queries (the full report: make docsearch-report).

The model files are build/deps/docsearch (scripts/fetch-docsearch-data.sh), the rendered lines
BUILD/docsearch/lines (examples/docsearch/docsearch.mk).
"""
import base64
import io
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from conftest import BUILD, ROOT

sys.path.insert(0, os.path.join(ROOT, "examples", "docsearch"))
import reference  # noqa: E402

TOOL = os.path.join(BUILD, "examples", "docsearch-tool")
RENDER = os.path.join(BUILD, "examples", "docsearch-render")
DATA = os.path.join(ROOT, "build", "deps", "docsearch")
LINES = os.path.join(BUILD, "docsearch", "lines")
SRC = os.path.join(ROOT, "examples", "docsearch")


@pytest.fixture(scope="module")
def ref():
    return reference.Reference(DATA, threads=1)


def tool(*args, stdin=None):
    p = subprocess.run([TOOL, *map(str, args)], input=stdin, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def corpus_lines():
    with open(os.path.join(SRC, "data", "lines.txt"), encoding="utf-8") as f:
        return [l for l in f.read().split("\n") if l]


# ---- WordPiece ---------------------------------------------------------------------------------

HARD = [
    "Hello, World! Café naïve résumé", "北京欢迎你 unaffable", "ÀÉÎÕÜ àéîõü ÇçÑñ Ææ Øø Åå ß",
    "İstanbul ıi ǅ ǈ ǋ", "ΑΒΓ αβγ ΣΊΣΥΦΟΣ Ωmega", "Привет, мир! Ёлка", "日本語のテキスト、カタカナ。",
    "한국어 문장입니다", "مرحبا بالعالم", "שלום עולם", "हिन्दी पाठ", "ไทยภาษา", "emoji 😀🎉👍🏽 end",
    "tab\there\nnewline\rcr", "nbsp\u00a0em\u2003ideo\u3000line\u2028para\u2029end",
    "zero\u200bwidth\u200djoiner\u00adsoft", "ctrl\x01\x02\x7f\x1b chars", "bom\ufeffstart",
    "replacement \ufffd char", "a" * 99, "b" * 100, "c" * 101, "supercalifragilisticexpialidocious",
    "pneumonoultramicroscopicsilicovolcanoconiosis", "antidisestablishmentarianism's",
    "don't won't can't I'm you're", "e-mail: first.last+tag@example.com", "http://a.b/c?d=e&f=g#h",
    "$1,234.56 €99 £5 ¥100 ₹20 ₿0.1", "50% off!!! (today) [only] {really} <tags>", "«quotes» „low“ ‚single‘",
    "dash – em — minus − hyphen ‐", "ellipsis… bullet • middot ·", "℃ ℉ № ™ ® © ½ ¼ ² ³",
    "ＦＵＬＬ ｗｉｄｔｈ　ＡＢＣ１２３", "ﬁ ﬂ ﬀ ligatures", "Ⅻ ⅻ roman", "combining e\u0301 a\u0300 o\u0308",
    "1st 2nd 3rd 4th 21st 1990s", "C++ C# F# .NET Node.js", "snake_case camelCase kebab-case",
    "   leading and trailing   ", "", " ", "!!!", "...", "中文English混合text",
    "𠀀𠀁 extension B", "㐀㐁 extension A", "豈 更 compatibility", "Ⓐⓑ ① enclosed",
]


def random_lines(n, seed=1234):
    rng = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÉÎÕÜŒœŠšŽžŁłĘęĄąŃńŚśŹźŻż",
        "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΘΛΞΠΣΦΨΩάέήίόύώ",
        "абвгдежзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙ",
        "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年",
        "あいうえおかきくけこアイウエオカキクケコ", "가나다라마바사아자차카타파하",
        "،؛؟ابتثجحخدذرزسشصضطظعغفقكلمنهوي", "¡¿«»‹›–—‘’“”•…′″€£¥©®°±×÷",
        "\u0300\u0301\u0302\u0303\u0308\u0327", "😀😂🎉👍🚀❤", " \t\u00a0\u2003\u3000",
        "\x01\x02\x1f\x7f\u200b\u200d\u00ad\ufeff",
    ]
    weights = [30, 8, 8, 6, 3, 3, 4, 2, 2, 2, 3, 2, 1, 6, 1]
    out = []
    for _ in range(n):
        words = []
        for _ in range(rng.randint(1, 14)):
            pool = rng.choices(pools, weights)[0]
            words.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 14 if rng.random() < 0.95 else 130))))
        line = " ".join(words)
        if not any(t in line for t in ("[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]")):
            out.append(line)
    return out


def hf_tokenizer(max_len):
    from tokenizers import Tokenizer
    t = Tokenizer.from_file(os.path.join(DATA, "tokenizer.json"))
    t.no_padding()
    t.enable_truncation(max_len)
    return t


def test_wordpiece_matches_hugging_face():
    queries = [q for q, _ in reference.read_queries()]
    lines = corpus_lines() + queries + HARD + random_lines(500)
    lines = [l.replace("\n", " ").replace("\r", " ") for l in lines]  # one line each on stdin
    assert len(lines) >= 850
    for max_len in (512, 128, 9):
        got = tool("tokenize", os.path.join(DATA, "vocab.txt"), max_len,
                   stdin="\n".join(lines).encode() + b"\n").decode().split("\n")[:-1]
        want = [" ".join(map(str, e.ids)) for e in hf_tokenizer(max_len).encode_batch(lines)]
        assert len(got) == len(want)
        bad = [(l, g, w) for l, g, w in zip(lines, got, want) if g != w]
        assert not bad, f"max_len {max_len}: {len(bad)} of {len(lines)} differ, e.g. {bad[:3]}"


def test_wordpiece_refuses_invalid_utf8():
    out = tool("tokenize", os.path.join(DATA, "vocab.txt"), 16, stdin=b"ok\nbad \xff here\n").decode()
    assert out.split("\n")[:2] == ["101 7929 102", "ERR text is not valid UTF-8 (at byte 4)"]


# ---- the recogniser's input --------------------------------------------------------------------

def synthetic_pngs():
    """Pictures the rendered lines do not cover: colour, tiny, tall, an exact 2x downscale."""
    from PIL import Image
    rng = np.random.default_rng(7)
    out = {}
    for name, shape, mode in [("rgb", (30, 200, 3), "RGB"), ("tiny", (1, 3), "L"),
                              ("tall", (200, 10), "L"), ("double", (96, 500), "L"),
                              ("wide", (20, 3000), "L")]:
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(a, mode).save(buf, "PNG")
        out[name] = buf.getvalue()
    return out


def test_prepare_matches_rapidocr(ref, tmp_path):
    pngs = {f: open(os.path.join(LINES, f), "rb").read()
            for f in ["clean/0000.png", "clean/0137.png", "noise/0042.png", "blur/0211.png", "skew/0099.png"]}
    for name, data in synthetic_pngs().items():
        path = tmp_path / f"{name}.png"
        path.write_bytes(data)
        pngs[str(path)] = data
    for name, data in pngs.items():
        path = name if os.path.isabs(name) else os.path.join(LINES, name)
        img = ref.load_image(data)
        own = img.shape[1] / img.shape[0]
        for ratio in (own, 20.0, 100.0):
            out = tmp_path / "x.f32"
            w, rw = map(int, tool("prepare", path, repr(ratio), out).split())
            got = np.fromfile(out, np.float32).reshape(3, 48, w)
            r = max(ratio, 320 / 48)
            want = ref.recognizer.resize_norm_img(img, r if 48 * r < 2048 else 2048.5 / 48)
            assert got.shape == want.shape, (name, ratio)
            assert rw == min(int(np.ceil(48 * own)), w)
            diff = np.abs(got - want)
            assert diff.max() == 0, (name, ratio, diff.max(), int((diff > 0).sum()))


def test_resize_matches_opencv(tmp_path):
    import cv2
    rng = random.Random(3)
    for f in ["clean/0005.png", "noise/0066.png", "skew/0120.png"]:
        bgr = cv2.imread(os.path.join(LINES, f), cv2.IMREAD_COLOR)
        for _ in range(4):
            dw, dh = rng.randint(1, 2 * bgr.shape[1]), rng.randint(1, 3 * bgr.shape[0])
            out = tmp_path / "r.u8"
            tool("resize", os.path.join(LINES, f), dw, dh, out)
            got = np.fromfile(out, np.uint8).reshape(dh, dw, 3).astype(int)
            want = cv2.resize(bgr, (dw, dh)).astype(int)
            assert np.array_equal(got, want), (f, dw, dh, int((got != want).sum()))


# ---- CTC ---------------------------------------------------------------------------------------

def test_ctc_matches_rapidocr_on_model_output(ref, tmp_path):
    files = ["clean/0030.png", "noise/0031.png", "blur/0055.png", "skew/0222.png", "clean/0091.png"]
    x = ref.prepare([open(os.path.join(LINES, f), "rb").read() for f in files])
    probs = ref.recognize_probs(x).astype(np.float32)
    n, steps, classes = probs.shape
    assert classes == 6625
    # plus random probabilities: every class, repeats, blanks
    rng = np.random.default_rng(11)
    noise = rng.random((3, 40, classes), dtype=np.float32)
    noise[0, ::3, 0] = 2  # blanks
    noise[1, :, 5] = 3  # one class repeated throughout
    noise[2, :, classes - 1] = 0.5 + rng.random(40, dtype=np.float32)  # spaces
    (tmp_path / "dict.txt").write_text(ref.characters, encoding="utf-8")
    for p in (probs, noise):
        p.tofile(tmp_path / "p.f32")
        got = tool("ctc", tmp_path / "dict.txt", tmp_path / "p.f32", p.shape[1], classes).decode()
        got = [l.split("\t") for l in got.split("\n")[:-1]]
        want = ref.decoder(p)
        assert len(got) == len(want)
        for (gt, gc), (wt, wc) in zip(got, want):
            assert gt == wt
            assert abs(float(gc) - wc) < 1e-9, (gt, gc, wc)
    texts = [t for t, _ in ref.decoder(probs)]
    truth = corpus_lines()
    assert reference.normalize_text(texts[0]) == reference.normalize_text(truth[30])


# ---- data --------------------------------------------------------------------------------------

def test_renderer_is_deterministic(tmp_path):
    out = tmp_path / "lines"
    p = subprocess.run([RENDER, os.path.join(SRC, "data", "lines.txt"), os.path.join(SRC, "data", "queries.tsv"),
                        "/usr/share/fonts/truetype/dejavu", str(out)], capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    assert b"250 lines x 4 variants, 25 pages" in p.stdout
    for f in ["manifest.tsv", "request.json", "clean/0000.png", "noise/0100.png", "blur/0249.png", "skew/0007.png"]:
        assert (out / f).read_bytes() == open(os.path.join(LINES, f), "rb").read(), f
    rows = (out / "manifest.tsv").read_text(encoding="utf-8").split("\n")[1:-1]
    assert len(rows) == 1000 and len({r.split("\t")[1] for r in rows}) == 250


def test_committed_request_is_a_real_request(ref):
    with open(os.path.join(SRC, "request.json"), encoding="utf-8") as f:
        req = json.load(f)
    query, target = reference.read_queries()[0]
    assert req["query"] == query and len(req["images"]) == 10
    pngs = [base64.b64decode(i, validate=True) for i in req["images"]]
    out = ref.search(req["query"], pngs)
    lines = corpus_lines()
    assert reference.normalize_text(out["results"][0]["text"]).replace(" ", "") == target.replace(" ", "")
    assert [reference.normalize_text(t).replace(" ", "") for t, _ in out["lines"]] == \
        [l.replace(" ", "") for l in lines[lines.index(target) // 10 * 10:][:10]]


def test_reference_pipeline_on_two_pages(ref):
    res = reference.evaluate(ref, LINES, ["clean"], reference.read_queries(), pages_wanted={3, 13})
    r = res["variants"]["clean"]
    assert r["lines"] == 20 and r["queries"] == 6
    for o in r["ocr"].values():
        assert reference.normalize_text(o["text"]) == o["truth"] and o["confidence"] > 0.9, o
    assert r["top1"] == 1.0, r["answers"]
