"""Run by test_bentoml_client.py with the python of build/venv-bentoml (BentoML 1.4.40): calls a
tiffin service with BentoML's own clients and prints one JSON line of what came back."""
import asyncio
import json
import sys

import bentoml
import numpy as np
from bentoml.exceptions import BentoMLException, InvalidArgument


def sync_calls(url, testsvc):
    out = {}
    with bentoml.SyncHTTPClient(url, server_ready_timeout=10) as c:
        if not testsvc:
            out["classify"] = c.classify(values=[0.5, 1.5, 2.0, 3.0])
            out["classify_np"] = c.classify(values=np.array([0.1, 0.2], dtype=np.float32))
            return out
        r = c.typed(i=41, f=2, s="héllo", b=False, t=[[1, 2.5, 3], [4, 5, 6]])
        out["typed"] = r
        out["echo"] = c.echo(value={"a": [1, 2]})
        big = c.big(n=5)
        out["big"] = {"type": type(big).__name__, "dtype": str(big.dtype), "list": big.tolist()}
        for name, call in [("bad_type", lambda: c.typed(i=1.5, f=1, s="", b=True, t=[[1], [2]])),
                           ("reject", lambda: c.reject()),
                           ("fail", lambda: c.fail())]:
            try:
                call()
                out[name] = "no exception"
            except BentoMLException as e:
                out[name] = {"class": type(e).__name__, "status": int(e.error_code),
                             "body": json.loads(e.message)}
        try:
            c.typed(i=1)
            out["missing"] = "no exception"
        except TypeError as e:  # checked by the client against the schema, before any request
            out["missing"] = "TypeError: " + str(e)
        out["is_invalid_argument"] = out["bad_type"]["class"] == InvalidArgument.__name__
    return out


async def async_calls(url, testsvc):
    async with bentoml.AsyncHTTPClient(url, server_ready_timeout=10) as c:
        if not testsvc:
            results = await asyncio.gather(*[c.classify(values=[float(i), 2.0, 3.0])
                                             for i in range(8)])
            return {"classify": results}
        try:
            await c.reject()
            return {"reject": "no exception"}
        except BentoMLException as e:
            return {"reject": type(e).__name__, "echo": await c.echo(value=[1, "two"])}


def default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o))


url, kind = sys.argv[1], sys.argv[2]
testsvc = kind == "testsvc"
print(json.dumps({"sync": sync_calls(url, testsvc),
                  "async": asyncio.run(async_calls(url, testsvc))}, default=default))
