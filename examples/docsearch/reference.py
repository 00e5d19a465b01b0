"""The docsearch pipeline in Python: onnxruntime + numpy, with RapidOCR's own preprocessing and
decoding code and Hugging Face's tokenizer. It validates the test data and is the reference the C
pipeline is checked against (tests/integration/test_docsearch.py).

One request = a query and the pictures of a page's lines:
  1. the query: WordPiece (tokenizer.json, truncated to 128) -> MiniLM (minilm.onnx) -> mean
     pooling with the attention mask -> L2 normalisation;
  2. the lines: RapidOCR's LoadImage (PNG -> BGR) and TextRecognizer.resize_norm_img with the
     largest aspect ratio of the request's pictures (one batch for the whole request) -> PP-OCRv4
     (ocr_rec.onnx) -> RapidOCR's CTCLabelDecode with the dictionary from the model's metadata ->
     text and confidence per line;
  3. the recognised lines embedded as the query (one batch, padded to the longest);
  4. score = cosine(query, line) * confidence; ranked best first (ties: lower line first).

    .venv/bin/python examples/docsearch/reference.py report [--lines build/docsearch/lines]
    .venv/bin/python examples/docsearch/reference.py search QUERY PNG...

`report` reads every rendered line (4 variants x 250) and every query (examples/docsearch/data/
queries.tsv; each answered among the 10 lines of its line's page) and prints OCR character
accuracy, exact-line rate and retrieval top-1 / top-3 per variant, and writes every answer to
BUILD/docsearch/reference.json. It takes about a minute on 2 cores; tests use a subset.
"""
import argparse
import csv
import importlib
import json
import os
import re
import sys
import time
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "build", "deps", "docsearch")
QUERIES = os.path.join(HERE, "data", "queries.tsv")
SEQ_LEN = 128


def load_rapidocr(data_dir):
    """RapidOCR's rec code unchanged, from the unpacked wheel, without its package __init__ (which
    imports the detector's dependencies). Returns (TextRecognizer, CTCLabelDecode, LoadImage)."""
    pkg_dir = os.path.join(data_dir, "rapidocr_onnxruntime")
    if "rapidocr_onnxruntime" not in sys.modules:
        pkg = types.ModuleType("rapidocr_onnxruntime")
        pkg.__path__ = [pkg_dir]
        sys.modules["rapidocr_onnxruntime"] = pkg
    rec = importlib.import_module("rapidocr_onnxruntime.ch_ppocr_rec.text_recognize")
    utils = importlib.import_module("rapidocr_onnxruntime.ch_ppocr_rec.utils")
    load = importlib.import_module("rapidocr_onnxruntime.utils.load_image")
    return rec.TextRecognizer, utils.CTCLabelDecode, load.LoadImage


def normalize_text(s):
    """Runs of white space as one space, none at the ends: how OCR text is compared."""
    return re.sub(r"\s+", " ", s).strip()


def edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


class Reference:
    def __init__(self, data_dir=DATA, threads=1):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.tokenizer = Tokenizer.from_file(os.path.join(data_dir, "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(SEQ_LEN)
        self.minilm = ort.InferenceSession(os.path.join(data_dir, "minilm.onnx"), opts,
                                           providers=["CPUExecutionProvider"])
        TextRecognizer, self.CTCLabelDecode, LoadImage = load_rapidocr(data_dir)
        self.load_image = LoadImage()
        cfg = {"model_path": os.path.join(data_dir, "ocr_rec.onnx"), "rec_batch_num": 6,
               "rec_img_shape": [3, 48, 320], "intra_op_num_threads": threads,
               "inter_op_num_threads": 1, "use_cuda": False, "use_dml": False}
        self.recognizer = TextRecognizer(cfg)
        self.ocr = self.recognizer.session.session
        self.characters = self.ocr.get_modelmeta().custom_metadata_map["character"]
        self.decoder = self.recognizer.postprocess_op

    # ---- text ----------------------------------------------------------------------------------
    def token_ids(self, texts):
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def embed(self, texts):
        """L2-normalised mean-pooled MiniLM embeddings [n, 384] of texts (one batch)."""
        ids = self.token_ids(texts)
        n, longest = len(ids), max(len(i) for i in ids)
        input_ids = np.zeros((n, longest), np.int64)
        mask = np.zeros((n, longest), np.int64)
        for r, row in enumerate(ids):
            input_ids[r, :len(row)] = row
            mask[r, :len(row)] = 1
        hidden = self.minilm.run(None, {"input_ids": input_ids, "attention_mask": mask,
                                        "token_type_ids": np.zeros_like(input_ids)})[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    # ---- images --------------------------------------------------------------------------------
    def prepare(self, pngs):
        """The recogniser's input for a request's pictures (PNG bytes): [n, 3, 48, W], W from the
        largest aspect ratio (as Preprocessor.prepare_images)."""
        imgs = [self.load_image(p) for p in pngs]
        ratio = max(max(i.shape[1] / float(i.shape[0]) for i in imgs), 320 / 48)
        if 48 * ratio >= 2048:  # DS_REC_MAX_WIDTH (2048.5 / 48: int(48 * r) must be 2048 exactly)
            ratio = 2048.5 / 48
        return np.stack([self.recognizer.resize_norm_img(i, ratio) for i in imgs]).astype(np.float32)

    def recognize_probs(self, x):
        return self.ocr.run(None, {"x": x})[0]

    def recognize(self, pngs):
        """[(text, confidence)] per picture."""
        return [tuple(r) for r in self.decoder(self.recognize_probs(self.prepare(pngs)))]

    # ---- the pipeline --------------------------------------------------------------------------
    def search(self, query, pngs, k=None):
        t0 = time.perf_counter()
        q = self.embed([query])[0]
        t1 = time.perf_counter()
        lines = self.recognize(pngs)
        t2 = time.perf_counter()
        emb = self.embed([t for t, _ in lines])
        t3 = time.perf_counter()
        sims = emb @ q / np.clip(np.linalg.norm(emb, axis=1) * np.linalg.norm(q), 1e-12, None)
        scores = sims * np.array([c for _, c in lines], np.float32)
        order = sorted(range(len(lines)), key=lambda i: (-scores[i], i))[:k or len(lines)]
        return {"results": [{"line": i, "score": float(scores[i]), "text": lines[i][0],
                             "confidence": float(lines[i][1])} for i in order],
                "lines": lines, "similarities": sims.tolist(),
                "ms": {"query": 1e3 * (t1 - t0), "ocr": 1e3 * (t2 - t1), "lines": 1e3 * (t3 - t2)}}


# ---- the data --------------------------------------------------------------------------------------

def read_manifest(lines_dir):
    """{variant: [(line, page, path, text)]} in line order."""
    out = {}
    with open(os.path.join(lines_dir, "manifest.tsv"), newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            out.setdefault(row["variant"], []).append(
                (int(row["line"]), int(row["page"]), os.path.join(lines_dir, row["file"]), row["text"]))
    return out


def read_queries(path=QUERIES):
    with open(path, encoding="utf-8") as f:
        return [tuple(line.rstrip("\n").split("\t")) for line in f if line.strip() and not line.startswith("#")]


def pages_of(entries):
    pages = {}
    for line, page, path, text in entries:
        pages.setdefault(page, []).append((line, path, text))
    return pages


def ocr_scores(pairs):
    """(character accuracy, exact-line rate, exact-line rate ignoring spaces) of [(recognised,
    truth)], white space normalised (runs as one space, none at the ends)."""
    dist = total = exact = exact_nospace = 0
    for got, want in pairs:
        g, w = normalize_text(got), normalize_text(want)
        dist += edit_distance(g, w)
        total += len(w)
        exact += g == w
        exact_nospace += g.replace(" ", "") == w.replace(" ", "")
    n = max(len(pairs), 1)
    return 1 - dist / max(total, 1), exact / n, exact_nospace / n


def evaluate(ref, lines_dir, variants, queries, pages_wanted=None):
    """OCR every page of each variant, then answer every query among its page's lines."""
    manifest = read_manifest(lines_dir)
    results = {"variants": {}, "queries": []}
    line_of = {text: line for line, _, _, text in manifest["clean"]}
    page_of = {line: page for line, page, _, _ in manifest["clean"]}
    for v in variants:
        pages = pages_of(manifest[v])
        ocr = {}
        for page, entries in sorted(pages.items()):
            if pages_wanted is not None and page not in pages_wanted:
                continue
            pngs = [open(p, "rb").read() for _, p, _ in entries]
            for (line, _, text), (got, conf) in zip(entries, ref.recognize(pngs)):
                ocr[line] = {"truth": text, "text": got, "confidence": conf}
        acc, exact, exact_nospace = ocr_scores([(o["text"], o["truth"]) for o in ocr.values()])
        hits1 = hits3 = n = 0
        answers = []
        for query, target in queries:
            line = line_of[target]
            page = page_of[line]
            if pages_wanted is not None and page not in pages_wanted:
                continue
            entries = pages[page]
            texts = [ocr[l]["text"] for l, _, _ in entries]
            confs = np.array([ocr[l]["confidence"] for l, _, _ in entries], np.float32)
            emb = ref.embed(texts)
            q = ref.embed([query])[0]
            scores = (emb @ q) * confs
            order = sorted(range(len(entries)), key=lambda i: (-scores[i], i))
            ranked = [entries[i][0] for i in order]
            n += 1
            hits1 += ranked[0] == line
            hits3 += line in ranked[:3]
            answers.append({"query": query, "line": line, "ranked": ranked,
                            "scores": [float(scores[i]) for i in order]})
        results["variants"][v] = {"char_accuracy": acc, "exact_lines": exact,
                                  "exact_lines_nospace": exact_nospace, "lines": len(ocr),
                                  "top1": hits1 / max(n, 1), "top3": hits3 / max(n, 1),
                                  "queries": n, "ocr": ocr, "answers": answers}
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    rp = sub.add_parser("report")
    rp.add_argument("--lines", default=os.path.join(ROOT, "build", "docsearch", "lines"))
    rp.add_argument("--data", default=DATA)
    rp.add_argument("--variants", default="clean,noise,blur,skew")
    rp.add_argument("--threads", type=int, default=2)
    rp.add_argument("--out", default=None)
    sp = sub.add_parser("search")
    sp.add_argument("query")
    sp.add_argument("pngs", nargs="+")
    sp.add_argument("--data", default=DATA)
    args = ap.parse_args()

    if args.cmd == "search":
        ref = Reference(args.data)
        out = ref.search(args.query, [open(p, "rb").read() for p in args.pngs])
        json.dump({"results": out["results"], "ms": out["ms"]}, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return

    ref = Reference(args.data, threads=args.threads)
    t0 = time.time()
    res = evaluate(ref, args.lines, args.variants.split(","), read_queries())
    took = time.time() - t0
    load = open("/proc/loadavg").read().split()[:3]
    print(f"docsearch reference pipeline (onnxruntime, {args.threads} threads), {took:.0f} s, "
          f"load average {' '.join(load)} (a shared machine)\n")
    print("| variant | lines | OCR char accuracy | exact lines | exact, spaces ignored | queries | top-1 | top-3 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for v, r in res["variants"].items():
        print(f"| {v} | {r['lines']} | {100 * r['char_accuracy']:.2f}% | {100 * r['exact_lines']:.1f}% "
              f"| {100 * r['exact_lines_nospace']:.1f}% "
              f"| {r['queries']} | {100 * r['top1']:.1f}% | {100 * r['top3']:.1f}% |")
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.lines)), "reference.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(res, f, ensure_ascii=False, indent=1)
    print(f"\nevery answer: {out}")
    bad = [(v, o["truth"], o["text"]) for v, r in res["variants"].items() for o in r["ocr"].values()
           if normalize_text(o["text"]) != normalize_text(o["truth"])]
    for v, want, got in bad[:40]:
        print(f"  {v}: {want!r} read as {got!r}")


if __name__ == "__main__":
    main()
