"""Trains the digits MLP with scikit-learn and exports it with skl2onnx, for the ONNX tests.

Writes OUT/digits-mlp.onnx (input X float32 [N, 64]; outputs label int64 [N] and probabilities
float32 [N, 10]: zipmap off, so every output is a tensor) and OUT/digits-mlp-expected.txt: eight
held-out rows, each "64 pixel values, 10 probabilities, label" as computed by Python's
onnxruntime on the exported file, for tests/test_onnx.c to compare against.
Usage: .venv/bin/python tests/onnx/export_digits.py OUT
"""
import os
import sys

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
digits = load_digits()
X = digits.data.astype(np.float32)
y = digits.target
model = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X[:1500], y[:1500])
onx = to_onnx(model, X[:1], options={id(model): {"zipmap": False}}, target_opset=17)
tmp = os.path.join(out, "digits-mlp.onnx.tmp")
with open(tmp, "wb") as f:
    f.write(onx.SerializeToString())

rows = X[1500:1508]
sess = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
label, proba = sess.run(None, {"X": rows})
with open(os.path.join(out, "digits-mlp-expected.txt"), "w") as f:
    for r, p, l in zip(rows, proba, label):
        f.write(" ".join("%.9g" % v for v in list(r) + list(p)) + " %d\n" % l)
os.replace(tmp, os.path.join(out, "digits-mlp.onnx"))
print("export_digits: %s/digits-mlp.onnx, accuracy %.3f on the held-out rows"
      % (out, (model.predict(X[1500:]) == y[1500:]).mean()))
