#!/usr/bin/env python3
"""Functional checks for the candidate servers (stdlib only, every step time-bounded).

    http_check.py --port P [--floor]      keep-alive, Content-Length, pipelining, async
    http_check.py --unix PATH [--floor]   one GET / over a unix domain socket

Prints one line of key=value pairs (yes / no / n/a, with a reason in brackets
when a check fails) and always exits 0 so the caller can tabulate.

--floor: the floor server does not parse HTTP, so only GET-based checks apply.
"""
import argparse
import socket
import time

HELLO = b'{"hello":"world"}'
TIMEOUT = 3.0


def req(method, path, body=b""):
    head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
    if method == "POST":
        head += f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class Conn:
    def __init__(self, args):
        if args.unix:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.settimeout(TIMEOUT)
            self.s.connect(args.unix)
        else:
            self.s = socket.create_connection(("127.0.0.1", args.port), timeout=TIMEOUT)
        self.buf = b""

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timeout")
        self.s.settimeout(left)
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def response(self, deadline):
        """Returns (status, headers dict lower-cased, body, had_content_length)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if "content-length" in hdrs:
            n = int(hdrs["content-length"])
            while len(self.buf) < n:
                self._fill(deadline)
            body, self.buf = self.buf[:n], self.buf[n:]
            return status, hdrs, body, True
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill(deadline)
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill(deadline)
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    return status, hdrs, body, False
        raise ValueError("no length")

    def close(self):
        self.s.close()


def check(args, name, requests, expect):
    """Send all requests in one write, expect len(expect) responses with these bodies in order."""
    try:
        c = Conn(args)
        try:
            c.s.sendall(b"".join(requests))
            deadline = time.monotonic() + TIMEOUT
            got = []
            for _ in expect:
                status, hdrs, body, had_cl = c.response(deadline)
                got.append(body)
                if status != 200:
                    return f"no(status {status})"
                if not had_cl:
                    return "no(no Content-Length)"
            if got != expect:
                return "no(out of order: " + ",".join(g.decode(errors="replace")[:10] for g in got) + ")"
            return "yes"
        finally:
            c.close()
    except (OSError, EOFError, ValueError) as e:
        return f"no({type(e).__name__}: {str(e)[:40]})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int)
    ap.add_argument("--unix")
    ap.add_argument("--floor", action="store_true")
    args = ap.parse_args()
    out = {}
    if args.unix:
        out["unix"] = check(args, "unix", [req("GET", "/")], [HELLO])
    else:
        # Keep-alive: two requests, the second written only after the first answer.
        try:
            c = Conn(args)
            deadline = time.monotonic() + TIMEOUT
            ok = True
            for _ in range(2):
                c.s.sendall(req("GET", "/"))
                status, hdrs, body, had_cl = c.response(deadline)
                ok = ok and status == 200 and body == HELLO and had_cl
            out["keepalive"] = "yes" if ok else "no"
            out["content_length"] = "yes" if had_cl else "no"
            c.close()
        except (OSError, EOFError, ValueError) as e:
            out["keepalive"] = f"no({type(e).__name__})"
        if args.floor:
            out["pipeline"] = check(args, "pipeline", [req("GET", "/")] * 3, [HELLO] * 3)
            out["async"] = out["async_pipeline"] = "n/a"
        else:
            out["pipeline"] = check(
                args, "pipeline",
                [req("GET", "/"), req("POST", "/echo", b"one"), req("POST", "/echo", b"two")],
                [HELLO, b"one", b"two"])
            out["async"] = check(args, "async", [req("GET", "/async")], [HELLO])
            out["async_pipeline"] = check(
                args, "async_pipeline",
                [req("GET", "/async"), req("POST", "/echo", b"after")], [HELLO, b"after"])
    print(" ".join(f"{k}={v.replace(' ', '_')}" for k, v in out.items()))


if __name__ == "__main__":
    main()
