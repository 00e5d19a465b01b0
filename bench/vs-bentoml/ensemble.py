"""examples/ensemble/ensemble.c in BentoML: Preprocessor -> [ModelA, ModelB] concurrently
(.to_async + asyncio.gather) -> Aggregator, behind the entry Ensemble. A model that fails is left
out and named in "missing" (graceful degradation), as in the C program.

    POST /classify {"values": [0.9, 0.8, 0.95]}
      -> {"label": "high", "confidence": 0.9..., "votes": {"ModelA": "high", "ModelB": "high"},
          "missing": []}
"""
import asyncio
from typing import Annotated

import bentoml
import numpy as np
from bentoml.validators import DType

import toy

F32 = Annotated[np.ndarray, DType("float32")]


@bentoml.service(**toy.SERVICE_CONFIG)
class Preprocessor:
    @bentoml.api
    async def prepare(self, values: F32) -> F32:
        if values.size == 0:
            raise bentoml.exceptions.InvalidArgument("'values' is empty")
        return toy.summary(values)


@bentoml.service(traffic={"timeout": 1}, **toy.SERVICE_CONFIG)
class ModelA:
    model = toy.linear([[-6, 0, -1, -1], [0, -2, 0, 0], [6, 0, 1, 1]], [3, 1, -5])

    @bentoml.api
    async def predict(self, features: F32) -> F32:
        return toy.predict(self.model, features)


@bentoml.service(traffic={"timeout": 1}, **toy.SERVICE_CONFIG)
class ModelB:
    model = toy.linear([[-4, 1, -2, 0], [0, -3, 0, 0], [4, 1, 2, 0]], [2, 1.5, -3])

    @bentoml.api
    async def predict(self, features: F32) -> F32:
        return toy.predict(self.model, features)


@bentoml.service(**toy.SERVICE_CONFIG)
class Aggregator:
    @bentoml.api
    async def vote(self, probabilities: F32) -> dict:
        if probabilities.shape[0] == 0:
            raise bentoml.exceptions.InvalidArgument("no probabilities to vote on")
        # mean[c] = sum over rows of p[i][c] / k, in float32 and in row order, as in the C
        mean = np.zeros(probabilities.shape[1], np.float32)
        for row in probabilities / np.float32(probabilities.shape[0]):
            mean += row
        best = toy.argmax(mean)
        return {"label": toy.LABELS[best], "confidence": float(mean[best])}


@bentoml.service(traffic={"timeout": 5, "max_concurrency": 4096}, **toy.SERVICE_CONFIG)
class Ensemble:
    preprocessor = bentoml.depends(Preprocessor)
    model_a = bentoml.depends(ModelA)
    model_b = bentoml.depends(ModelB)
    aggregator = bentoml.depends(Aggregator)

    @bentoml.api
    async def classify(self, values: F32) -> dict:
        feats = await self.preprocessor.to_async.prepare(values=values)
        names = ("ModelA", "ModelB")
        results = await asyncio.gather(
            self.model_a.to_async.predict(features=feats),
            self.model_b.to_async.predict(features=feats),
            return_exceptions=True,
        )
        rows, votes, missing, last = [], {}, [], None
        for name, r in zip(names, results):
            if isinstance(r, BaseException):
                missing.append(f"{name}: {r}")
                last = r
                continue
            rows.append(r)
            votes[name] = toy.LABELS[toy.argmax(r)]
        if not rows:
            raise last
        out = await self.aggregator.to_async.vote(probabilities=np.stack(rows))
        return {**out, "votes": votes, "missing": missing}
