"""The docsearch pipeline (examples/docsearch, issue 12) in BentoML 1.4.40, for the comparison in
docs/benchmarks.md: the same models through onnxruntime from PyPI, the same token ids (Hugging
Face's tokenizers with the model's tokenizer.json, which the C WordPiece matches id for id), the
same recogniser input (RapidOCR's own resize_norm_img) and CTC decoding (RapidOCR's
CTCLabelDecode), the same fusion and ranking.

    Search.search {"query": str, "images": [base64 PNG, ...], "k": 3}
      1. Preprocessor.tokenize([query]) and Preprocessor.prepare_images(images)
      2. concurrently: TextModel.embed (the query) and ImageModel.read (every line)
      3. Preprocessor.tokenize(recognised lines) -> TextModel.embed, one batch
      4. Fusion.fuse: cosine(query, line) * OCR confidence
      5. Ranker.rank: the top k
      -> {"results": [{"line", "score", "text", "confidence"}], "missing": []}
    When ImageModel fails or times out the answer names it in "missing" and has no results (no
    line can be ranked without its text).

Model files: DOCSEARCH_DATA (default build/deps/docsearch of this checkout, from
scripts/fetch-docsearch-data.sh). Each model service runs onnxruntime with one intra-op thread
and asks BentoML for one CPU. Run by bench/docsearch/run.sh.
"""
import asyncio
import base64
import os
import sys
import types
from typing import Annotated

import bentoml
import numpy as np
from bentoml.validators import DType

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.environ.get("DOCSEARCH_DATA", os.path.join(ROOT, "build", "deps", "docsearch"))
sys.path.insert(0, os.path.join(ROOT, "examples", "docsearch"))
import reference  # noqa: E402  (load_rapidocr: RapidOCR's rec code from the unpacked wheel)

SEQ_LEN = 128
MAX_WIDTH = 2048  # DS_REC_MAX_WIDTH of examples/docsearch/ocrimage.h
F32 = Annotated[np.ndarray, DType("float32")]
I64 = Annotated[np.ndarray, DType("int64")]

# As bench/vs-bentoml/toy.py: the access log off, and dependency clients that do not recycle
# their connections every 100 calls (BentoML issue 5544).
CONFIG = {
    "logging": {"access": {"enabled": False}},
    "runner_connection": {"max_requests": 2**31 - 1, "max_age": 1e9},
}


def session(path):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


@bentoml.service(resources={"cpu": "0.5"}, **CONFIG)
class Preprocessor:
    def __init__(self):
        from tokenizers import Tokenizer
        self.tokenizer = Tokenizer.from_file(os.path.join(DATA, "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(SEQ_LEN)
        TextRecognizer, _, LoadImage = reference.load_rapidocr(DATA)
        self.load_image = LoadImage()
        # resize_norm_img reads only rec_image_shape from its instance
        self.resize_norm_img = types.MethodType(
            TextRecognizer.resize_norm_img, types.SimpleNamespace(rec_image_shape=[3, 48, 320]))

    @bentoml.api
    def tokenize(self, texts: list[str]) -> dict:
        if not 1 <= len(texts) <= 256:
            raise bentoml.exceptions.InvalidArgument(f"'texts' has {len(texts)} items: give 1..256")
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        longest = max(len(i) for i in ids)
        input_ids = np.zeros((len(ids), longest), np.int64)
        mask = np.zeros((len(ids), longest), np.int64)
        for r, row in enumerate(ids):
            input_ids[r, :len(row)] = row
            mask[r, :len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}

    @bentoml.api
    def prepare_images(self, images: list[str]) -> F32:
        if not 1 <= len(images) <= 32:
            raise bentoml.exceptions.InvalidArgument(f"'images' has {len(images)} items: give 1..32")
        try:
            imgs = [self.load_image(base64.b64decode(i, validate=True)) for i in images]
        except Exception as e:
            raise bentoml.exceptions.InvalidArgument(f"'images': {e}")
        ratio = max(max(i.shape[1] / float(i.shape[0]) for i in imgs), 320 / 48)
        if 48 * ratio >= MAX_WIDTH:
            ratio = (MAX_WIDTH + 0.5) / 48
        return np.stack([self.resize_norm_img(i, ratio) for i in imgs]).astype(np.float32)


@bentoml.service(resources={"cpu": "1"}, traffic={"timeout": 10}, **CONFIG)
class TextModel:
    def __init__(self):
        self.session = session(os.path.join(DATA, "minilm.onnx"))

    @bentoml.api
    def embed(self, input_ids: I64, attention_mask: I64, token_type_ids: I64) -> F32:
        hidden = self.session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask,
                                         "token_type_ids": token_type_ids})[0]
        m = attention_mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


@bentoml.service(resources={"cpu": "1"}, traffic={"timeout": 10}, **CONFIG)
class ImageModel:
    def __init__(self):
        self.session = session(os.path.join(DATA, "ocr_rec.onnx"))
        _, CTCLabelDecode, _ = reference.load_rapidocr(DATA)
        characters = self.session.get_modelmeta().custom_metadata_map["character"].splitlines()
        self.decode = CTCLabelDecode(character=characters)

    @bentoml.api
    def read(self, x: F32) -> dict:
        probs = self.session.run(None, {"x": x})[0]
        lines = self.decode(probs)
        return {"texts": [t for t, _ in lines], "confidences": [float(c) for _, c in lines]}


@bentoml.service(resources={"cpu": "0.25"}, **CONFIG)
class Fusion:
    @bentoml.api
    def fuse(self, query: F32, lines: F32, confidences: F32) -> F32:
        q = query.astype(np.float64)
        l = lines.astype(np.float64)
        norms = np.linalg.norm(l, axis=1) * np.linalg.norm(q)
        cos = np.where(norms > 0, l @ q / np.where(norms > 0, norms, 1), 0)
        return (cos * confidences).astype(np.float32)


@bentoml.service(resources={"cpu": "0.25"}, **CONFIG)
class Ranker:
    @bentoml.api
    def rank(self, scores: F32, texts: list[str], confidences: F32, k: int = 3) -> list:
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:max(k, 1)]
        return [{"line": i, "score": float(scores[i]), "text": texts[i],
                 "confidence": float(confidences[i])} for i in order]


@bentoml.service(traffic={"timeout": 30, "max_concurrency": 4096}, **CONFIG)
class Search:
    preprocessor = bentoml.depends(Preprocessor)
    text_model = bentoml.depends(TextModel)
    image_model = bentoml.depends(ImageModel)
    fusion = bentoml.depends(Fusion)
    ranker = bentoml.depends(Ranker)

    @bentoml.api
    async def search(self, query: str, images: list[str], k: int = 3) -> dict:
        tokens, x = await asyncio.gather(self.preprocessor.to_async.tokenize(texts=[query]),
                                         self.preprocessor.to_async.prepare_images(images=images))
        q, read = await asyncio.gather(self.text_model.to_async.embed(**tokens),
                                       self.image_model.to_async.read(x=x), return_exceptions=True)
        if isinstance(q, BaseException):
            raise q
        if isinstance(read, BaseException):
            return {"results": [], "missing": [f"ImageModel: {read}"]}
        line_tokens = await self.preprocessor.to_async.tokenize(texts=read["texts"])
        lines = await self.text_model.to_async.embed(**line_tokens)
        confidences = np.array(read["confidences"], np.float32)
        scores = await self.fusion.to_async.fuse(query=q[0], lines=lines, confidences=confidences)
        results = await self.ranker.to_async.rank(scores=scores, texts=read["texts"],
                                                  confidences=confidences, k=k)
        return {"results": results, "missing": []}
