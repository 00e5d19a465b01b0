"""The arithmetic of examples/common/toy.h, in numpy: summary statistics of readings and a small
linear classifier with a softmax. Same math, same precision (sums in float64, results float32)."""
import numpy as np

NFEAT, NCLASS = 4, 3
LABELS = ("low", "mid", "high")

# The configuration of every service of the benchmark; everything else is BentoML's default.
# - The access log off: by default BentoML logs a line per request and per dependency call;
#   tiffin logs no requests.
# - runner_connection: since 1.4.30 a dependency client replaces its aiohttp session every 100
#   calls (and every 300 s) and closes the old one with the calls still in flight on it, which
#   then fail ("Server disconnected", "Connector is closed"): at 64 connections about a quarter
#   of the requests failed with 500. Refreshing only every 2^31 calls avoids that. (Upstream:
#   bentoml/BentoML issue 5544, pull requests 5541 and 5698.)
SERVICE_CONFIG = {
    "logging": {"access": {"enabled": False}},
    "runner_connection": {"max_requests": 2**31 - 1, "max_age": 1e9},
}


def linear(w, b):
    return np.array(w, np.float32), np.array(b, np.float32)


def summary(x: np.ndarray) -> np.ndarray:
    """mean, standard deviation, minimum and maximum of x (n > 0), as toy_summary()."""
    d = x.astype(np.float64, copy=False)
    mean = d.sum() / d.size
    sq = (d * d).sum() / d.size
    return np.array([mean, np.sqrt(max(0.0, sq - mean * mean)), d.min(), d.max()], np.float32)


def predict(model, f: np.ndarray) -> np.ndarray:
    """softmax(w f + b), as toy_predict()."""
    w, b = model
    e = np.exp(b + w @ f.astype(np.float32, copy=False))
    return e / e.sum()


def argmax(p) -> int:
    return int(np.argmax(p))
