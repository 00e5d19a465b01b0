"""Triton python-backend model: int8 MiniLM through onnxruntime (PyPI), for bench/batch-minilm.

Triton's dynamic batcher hands execute() every request of a batch; they are stacked along
dimension 0 into one onnxruntime call (1 intra-op thread, as tiffin's backend), and the output
is split back by each request's row count. The model's path is the MODEL_PATH parameter of
config.pbtxt; the stub runs the system's Python 3.11 without the caller's PYTHONPATH, so run.sh
writes the bench venv's site-packages (numpy, onnxruntime) over @SITE@ below.
"""
import sys

sys.path.insert(0, "@SITE@")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402

NAMES = ("input_ids", "attention_mask", "token_type_ids")


class TritonPythonModel:
    def initialize(self, args):
        import json
        cfg = json.loads(args["model_config"])
        path = cfg["parameters"]["MODEL_PATH"]["string_value"]
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        parts = {n: [] for n in NAMES}
        rows = []
        for r in requests:
            for n in NAMES:
                parts[n].append(pb_utils.get_input_tensor_by_name(r, n).as_numpy())
            rows.append(parts[NAMES[0]][-1].shape[0])
        feed = {n: np.concatenate(parts[n]) for n in NAMES}
        (out,) = self.session.run(["last_hidden_state"], feed)
        responses, at = [], 0
        for k in rows:
            # Each response owns its rows (a C-contiguous array).
            t = pb_utils.Tensor("last_hidden_state", np.ascontiguousarray(out[at:at + k]))
            responses.append(pb_utils.InferenceResponse(output_tensors=[t]))
            at += k
        return responses
