"""The command line every tiffin program gets: serve, call, openapi, --help."""
import json
import subprocess

import pytest
from conftest import HELLO, TESTSVC


def run(*args, timeout=20):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("cmd", [[], ["serve"], ["call"], ["openapi"]])
def test_help(cmd):
    p = run(HELLO, *cmd, "--help")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage: hello")


def test_no_command_and_unknown_command_are_usage_errors():
    assert run(HELLO).returncode == 2
    p = run(HELLO, "frobnicate")
    assert p.returncode == 2 and "unknown command 'frobnicate'" in p.stderr


@pytest.mark.parametrize("args", [["--port", "70000"], ["--port", "x"], ["--timeout", "0"],
                                  ["--max-body", "-5"], ["--bogus"], ["extra"]])
def test_serve_rejects_bad_options(args):
    p = run(HELLO, "serve", *args)
    assert p.returncode == 2, (p.stdout, p.stderr)


def test_version():
    p = run(HELLO, "version")
    assert p.returncode == 0 and p.stdout.startswith("tiffin ")


def test_openapi_command_prints_a_valid_document():
    from openapi_spec_validator import validate

    p = run(HELLO, "openapi")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    validate(doc)
    assert set(doc["paths"]) >= {"/greet", "/stats", "/scale", "/livez", "/readyz"}


def test_call_prints_the_response(hello):
    url = "http://127.0.0.1:%d" % hello.port
    p = run(HELLO, "call", "greet", "--json", '{"name": "Ada"}', "--url", url)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"message": "Hello, Ada!"}


def test_call_from_file_and_stdin(hello, tmp_path):
    url = "http://127.0.0.1:%d" % hello.port
    f = tmp_path / "req.json"
    f.write_text('{"x": [1, 2, 3, 4]}')
    p = run(HELLO, "call", "stats", "--file", str(f), "--url", url)
    assert p.returncode == 0 and json.loads(p.stdout)["mean"] == 2.5
    p = subprocess.run([HELLO, "call", "stats", "--file", "-", "--url", url],
                       input='{"x": [2]}', capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and json.loads(p.stdout)["count"] == 1


def test_call_error_response_exits_1_and_prints_the_error(hello):
    url = "http://127.0.0.1:%d" % hello.port
    p = run(HELLO, "call", "greet", "--json", '{"name": 3}', "--url", url)
    assert p.returncode == 1
    assert json.loads(p.stdout)["code"] == "ETYPE"
    assert "HTTP 400" in p.stderr


def test_call_unreachable_server_is_a_clear_error():
    p = run(HELLO, "call", "greet", "--json", "{}", "--url", "http://127.0.0.1:1")
    assert p.returncode == 1 and "cannot connect to 127.0.0.1:1" in p.stderr


def test_call_over_unix_socket(make_server, tmp_path):
    path = str(tmp_path / "s.sock")
    make_server(TESTSVC, unix=path, tcp=False)
    p = run(TESTSVC, "call", "echo", "--json", '{"value": [1, 2]}', "--url", "unix:" + path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"value": [1, 2]}


def test_call_rejects_bad_url():
    p = run(HELLO, "call", "greet", "--url", "ftp://x")
    assert p.returncode == 2
