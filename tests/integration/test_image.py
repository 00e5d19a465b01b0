"""`make image APP=digits`: an OCI image built with podman, run, and called over HTTP.

The digits program needs its trained models at run time, so this checks the whole image: the
program, the shared libraries ldd found (XGBoost, liblinear, libsvm, OpenBLAS, libpng, ...) and
the model files. The first run installs podman & co. (scripts/install-deps.sh image) and makes
the Debian base image (debootstrap, about 35 s, cached in podman's storage). Where podman cannot
be installed or cannot run containers, the test is skipped with the reason — never passed.
"""
import csv
import json
import os
import subprocess
import time
import urllib.request

import pytest

from conftest import BUILD, ROOT

APP = "digits"
CONF = os.path.join(BUILD, "image", "containers.conf")
BASE = "localhost/tiffin-base:bookworm"


def podman(*args, timeout=120, check=True):
    env = dict(os.environ, CONTAINERS_CONF=CONF)
    p = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                       env=env)
    if check and p.returncode != 0:
        raise AssertionError("podman %s: %s" % (" ".join(args), p.stderr))
    return p


@pytest.fixture(scope="module")
def image():
    p = subprocess.run([os.path.join(ROOT, "scripts", "install-deps.sh"), "image"],
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        pytest.skip("podman could not be installed: " + (p.stderr or p.stdout)[-500:])
    tag = "localhost/tiffin/%s:test-%s" % (APP, os.path.basename(BUILD))
    # The same make variables as the build under test (tests/run.sh: build/ is gcc, build-san/
    # clang with the sanitizers), so make relinks nothing with another compiler.
    same_build = ["SAN=1", "CC=clang"] if os.path.basename(BUILD).endswith("-san") else []
    p = subprocess.run(["make", "-s", "image", "APP=" + APP, "BUILD=" + os.path.relpath(BUILD, ROOT),
                        "IMAGE_TAG=" + tag, *same_build],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    if p.returncode != 0 and "debootstrap" in p.stdout + p.stderr and not \
            podman("image", "exists", BASE, check=False).returncode == 0:
        pytest.skip("the Debian base image could not be made: " + p.stderr[-500:])
    assert p.returncode == 0, p.stdout + p.stderr
    # Can this machine run a container at all? (Nested or locked-down hosts cannot.)
    probe = podman("run", "--rm", "--network", "host", BASE, "true", check=False)
    if probe.returncode != 0:
        pytest.skip("podman cannot run containers here: " + probe.stderr.strip()[-500:])
    yield tag
    podman("rmi", "-f", tag, check=False)


def test_image_serves_the_digits_ensemble(image):
    name = "tiffin-image-test-%d" % os.getpid()
    # Host networking: no container network to set up; --port 0 and the banner give the port.
    proc = subprocess.Popen(
        ["podman", "run", "--rm", "--name", name, "--network", "host", "-e",
         "ASAN_OPTIONS=detect_leaks=0", image, APP, "serve", "--host", "127.0.0.1", "--port",
         "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, CONTAINERS_CONF=CONF))
    try:
        line = proc.stdout.readline().decode()
        assert "listening on http://127.0.0.1:" in line, (line, proc.stderr.read1().decode())
        port = int(line.rsplit(":", 1)[1])
        url = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 30
        while True:
            try:
                if urllib.request.urlopen(url + "/readyz", timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the container did not become ready"
            time.sleep(0.1)
        # Real held-out images: the models inside the image classify them.
        with open(os.path.join(BUILD, "digits", "test.csv")) as f:
            rows = [list(map(float, r)) for r in list(csv.reader(f))[:20]]
        right = 0
        for r in rows:
            req = urllib.request.Request(url + "/classify", json.dumps({"pixels": r[:64]}).encode(),
                                         {"Content-Type": "application/json"})
            out = json.load(urllib.request.urlopen(req, timeout=10))
            assert out["missing"] == [], out  # every model found its files in the image
            right += out["label"] == int(r[64])
        assert right >= 18, right
    finally:
        podman("stop", "-t", "15", name, check=False, timeout=60)
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0, proc.returncode
