"""The HTML docs page (GET / with Accept: text/html) and /graph.json, checked in Debian's
headless Chromium through the DevTools protocol: the page lists every API, a form submits and
shows the answer, and the service graph is drawn from /graph.json. The screenshot in
docs/docs-page.png was made by test_screenshot_of_a_graph (TIFFIN_SCREENSHOT=PATH)."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest
import websocket
from conftest import TESTSVC

MODELSVC = os.path.join(os.path.dirname(TESTSVC), "modelsvc")
SEQUENTIAL = os.path.join(os.path.dirname(TESTSVC), "..", "..", "examples", "sequential")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """Headless Chromium, driven over its DevTools websocket."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tiffin-chromium-")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", "--remote-debugging-port=0",
             "--window-size=1200,900", "--user-data-dir=" + self.dir, "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.dir, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while not (os.path.exists(port_file) and open(port_file).read().count("\n") >= 1):
            assert time.monotonic() < deadline, "chromium did not start"
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        pages = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port))
        page = next(p for p in pages if p["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0

    def send(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return msg["result"]

    def eval(self, expr):
        r = self.send("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")

    def wait_for(self, expr, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = self.eval(expr)
            if v:
                return v
            time.sleep(0.1)
        raise AssertionError("never true: " + expr + "\n" + str(self.eval(
            "document.body.innerText")))

    def close(self):
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def browser():
    if not CHROMIUM:
        pytest.skip("chromium is not installed (scripts/install-deps.sh test)")
    b = Browser()
    yield b
    b.close()


def test_html_only_for_browsers(make_server):
    s = make_server(MODELSVC)
    r = s.request("GET", "/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status == 200 and r.headers["content-type"].startswith("text/html")
    assert b"<script>" in r.body and b"http" not in r.body.replace(b"http://www.w3.org", b"")
    assert s.get("/").json()["service"] == "ModelSvc"  # tools still get JSON
    g = s.get("/graph.json").json()
    assert g["service"] == "ModelSvc" and g["edges"] == []
    assert g["services"][0]["health"]["ready"] is True


def test_graph_json_of_a_served_graph(make_server):
    s = make_server(SEQUENTIAL)
    s.post("classify", {"values": [1.0, 2.0]})
    deadline = time.monotonic() + 10
    while True:
        g = s.get("/graph.json").json()
        if all(x["health"] and x["health"]["ready"] for x in g["services"]):
            break
        assert time.monotonic() < deadline, g
        time.sleep(0.2)
    names = [x["name"] for x in g["services"]]
    assert names[0] == "Pipeline" and set(names) == {
        "Pipeline", "Preprocessing", "InferenceModel", "Postprocessing"}
    assert {(e["from"], e["to"]) for e in g["edges"]} == {
        ("Pipeline", "Preprocessing"), ("Pipeline", "InferenceModel"),
        ("Pipeline", "Postprocessing")}
    assert g["services"][0]["health"]["served"] >= 1
    # Edges carry what the metrics region counted (every worker of the graph): one request so far
    # made one call on each edge; the rate needs a second poll.
    assert all(e["calls"] == 1 for e in g["edges"]), g["edges"]
    for _ in range(4):
        assert s.post("classify", {"values": [1.0, 2.0]}).status == 200
    time.sleep(0.05)
    g = s.get("/graph.json").json()
    for e in g["edges"]:
        assert e["calls"] == 5 and e["calls_per_s"] > 0 and e["latency_ms"] > 0, e


def test_page_lists_apis_and_a_form_answers(make_server, browser):
    s = make_server(MODELSVC)
    browser.send("Page.navigate", url="http://127.0.0.1:%d/" % s.port)
    browser.wait_for("document.querySelectorAll('section.api').length === 4")
    text = browser.eval("document.getElementById('api-scale').innerText")
    assert "POST /scale" in text and "tensor(float32, [-1, 3])" in text and "required" in text
    assert browser.wait_for("document.querySelector('#graph g.service[data-name=ModelSvc]') "
                            "&& document.getElementById('graph').textContent")
    browser.eval("document.getElementById('input-greet').value = '{\"name\": \"chromium\"}';"
                 "document.getElementById('submit-greet').click(); true")
    answer = browser.wait_for("(t => t.includes('hello') && t)"
                              "(document.getElementById('answer-greet').textContent)")
    assert answer.startswith("200 OK") and '"greeting": "hello, chromium"' in answer
    browser.eval("document.getElementById('input-greet').value = '{\"name\": 3}';"
                 "document.getElementById('submit-greet').click(); true")
    answer = browser.wait_for("(t => t.startsWith('400') && t)"
                              "(document.getElementById('answer-greet').textContent)")
    assert "ETYPE" in answer
    # the example prefilled for a tensor API is valid input
    browser.eval("document.getElementById('submit-scale').click(); true")
    answer = browser.wait_for("(t => /^\\d{3}/.test(t) && t)"
                              "(document.getElementById('answer-scale').textContent)")
    assert answer.startswith("200 OK"), answer


def test_screenshot_of_a_graph(make_server, browser):
    s = make_server(SEQUENTIAL)
    for v in ([1.0, 2.0], [0.1], [5.0, 6.0, 7.0]):
        s.post("classify", {"values": v})
    browser.send("Page.navigate", url="http://127.0.0.1:%d/" % s.port)
    browser.wait_for("document.querySelectorAll('#graph g.service').length === 4")
    browser.wait_for("!document.getElementById('graph').textContent.includes('not ready')")
    browser.eval("document.getElementById('submit-classify').click(); true")
    browser.wait_for("document.getElementById('answer-classify').textContent.startsWith('200')")
    shot = base64.b64decode(browser.send("Page.captureScreenshot", format="png")["data"])
    assert shot.startswith(b"\x89PNG") and len(shot) > 10000
    if os.environ.get("TIFFIN_SCREENSHOT"):
        with open(os.environ["TIFFIN_SCREENSHOT"], "wb") as f:
            f.write(shot)
