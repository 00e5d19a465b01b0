"""bench/hop/hop.c in BentoML: Relay.relay forwards its input to Echo.echo and returns Echo's
answer. Between the two, the tensor travels as BentoML sends numpy arrays between services
(pickle protocol 5 with out-of-band buffers: the raw float32 bytes).

    POST /relay {"t": [[...512 floats...], ...512 rows]}   -> the same tensor, via Echo
    POST /echo  {"t": ...}  (on Echo served alone: `bentoml serve hop:Echo`)
"""
from typing import Annotated

import bentoml
import numpy as np
from bentoml.validators import DType

import toy

F32 = Annotated[np.ndarray, DType("float32")]


@bentoml.service(traffic={"max_concurrency": 65536}, **toy.SERVICE_CONFIG)
class Echo:
    @bentoml.api
    async def echo(self, t: F32) -> F32:
        return t


@bentoml.service(traffic={"max_concurrency": 65536}, **toy.SERVICE_CONFIG)
class Relay:
    echo_svc = bentoml.depends(Echo)

    @bentoml.api
    async def relay(self, t: F32) -> F32:
        return await self.echo_svc.to_async.echo(t=t)
