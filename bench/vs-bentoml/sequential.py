"""examples/sequential/sequential.c in BentoML: Preprocessing -> InferenceModel -> Postprocessing
behind the entry Pipeline, each a @bentoml.service of its own (its own process under
`bentoml serve sequential:Pipeline`), called through bentoml.depends().

    POST /classify {"values": [0.1, 0.4, 0.35, 0.8]} -> {"label": "mid", "confidence": 0.65...}
"""
from typing import Annotated

import bentoml
import numpy as np
from bentoml.validators import DType

import toy

F32 = Annotated[np.ndarray, DType("float32")]


@bentoml.service(**toy.SERVICE_CONFIG)
class Preprocessing:
    @bentoml.api
    async def features(self, values: F32) -> F32:
        if values.size == 0:
            raise bentoml.exceptions.InvalidArgument("'values' is empty")
        return toy.summary(values)


@bentoml.service(**toy.SERVICE_CONFIG)
class InferenceModel:
    model = toy.linear([[-6, 0, -1, -1], [0, -2, 0, 0], [6, 0, 1, 1]], [3, 1, -5])

    @bentoml.api
    async def predict(self, features: F32) -> F32:
        return toy.predict(self.model, features)


@bentoml.service(**toy.SERVICE_CONFIG)
class Postprocessing:
    @bentoml.api
    async def label(self, probabilities: F32) -> dict:
        best = toy.argmax(probabilities)
        return {"label": toy.LABELS[best], "confidence": float(probabilities[best])}


@bentoml.service(traffic={"timeout": 5, "max_concurrency": 4096}, **toy.SERVICE_CONFIG)
class Pipeline:
    preprocessing = bentoml.depends(Preprocessing)
    model = bentoml.depends(InferenceModel)
    postprocessing = bentoml.depends(Postprocessing)

    @bentoml.api
    async def classify(self, values: F32) -> dict:
        feats = await self.preprocessing.to_async.features(values=values)
        probs = await self.model.to_async.predict(features=feats)
        return await self.postprocessing.to_async.label(probabilities=probs)
