"""examples/streaming/streaming.c in BentoML 1.4 (bench/streaming/ttfp.py runs it beside tiffin):
Tokenizer -> Generator (streams token ids) -> Detokenizer (the entry, streams text), each a
@bentoml.service of its own (its own process under `bentoml serve bento_streaming:Detokenizer`),
called through bentoml.depends(); the streams are async generators.

    POST /generate {"prompt": "the cat", "max_tokens": 8, "delay_ms": 0} -> "sat a flew ..." as it comes

The same vocabulary and the same "model" (a fixed next-token table) as the C example. Generator
streams each id as one line of text ("7\\n"): BentoML's client yields what each read of a stream
returns, so pieces that arrive together come as one item, and text with a separator is the
framing that survives that (tiffin frames its relay with server-sent events).
"""
import asyncio
from typing import AsyncGenerator

import bentoml

VOCAB = ["<unk>", "the", "cat", "sat", "on", "mat", "and", "dog",
         "ran", "to", "a", "park", "saw", "bird", "flew", "away"]
CONFIG = {
    "logging": {"access": {"enabled": False}},  # tiffin logs no requests
    "runner_connection": {"max_requests": 2**31 - 1, "max_age": 1e9},
}


@bentoml.service(**CONFIG)
class Tokenizer:
    @bentoml.api
    async def encode(self, prompt: str) -> list:
        return [VOCAB.index(w) if w in VOCAB else 0 for w in prompt.split()]


@bentoml.service(**CONFIG)
class Generator:
    @bentoml.api
    async def generate(self, tokens: list, max_tokens: int = 16,
                       delay_ms: int = 20) -> AsyncGenerator[str, None]:
        last = tokens[-1] if tokens else 1
        for _ in range(max_tokens):
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            last = 1 + (last * 7 + 3) % (len(VOCAB) - 1)
            yield "%d\n" % last


@bentoml.service(traffic={"timeout": 30, "max_concurrency": 4096}, **CONFIG)
class Detokenizer:
    tokenizer = bentoml.depends(Tokenizer)
    generator = bentoml.depends(Generator)

    @bentoml.api
    async def generate(self, prompt: str, max_tokens: int = 16,
                       delay_ms: int = 20) -> AsyncGenerator[str, None]:
        tokens = await self.tokenizer.to_async.encode(prompt=prompt)
        pending, i = "", 0
        async for got in self.generator.to_async.generate(tokens=tokens, max_tokens=max_tokens,
                                                          delay_ms=delay_ms):
            pending += got
            *ids, pending = pending.split("\n")
            for tid in ids:
                tid = int(tid)
                yield ("" if i == 0 else " ") + VOCAB[tid if 0 < tid < len(VOCAB) else 0]
                i += 1
