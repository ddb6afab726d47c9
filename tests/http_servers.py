"""Real HTTP servers on loopback for the http step's tests: gevent's WSGI server, over plain
TCP or TLS with a CA made for the test (openssl, a self-signed root)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Callable

import gevent
from gevent.pywsgi import WSGIServer


def make_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A root CA and a certificate for 127.0.0.1/localhost signed by it: (ca, cert, key)."""
    ca_key, ca, key, csr, cert = (directory / n for n in ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem"))
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
        "-subj", "/CN=flowengine test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out",
        str(cert), "-days", "2", "-extfile", str(ext))
    return ca, cert, key


class Recorded:
    """What the server was asked: (method, path with query, headers, body) per request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict, bytes]] = []


def wsgi(handler: Callable[[dict], tuple[int, list, bytes] | None], seen: Recorded):
    """A WSGI app answering ``handler(environ) -> (status, headers, body)``."""
    def app(environ, start_response):
        body = environ["wsgi.input"].read()
        query = environ.get("QUERY_STRING")
        path = environ.get("PATH_INFO", "/") + (f"?{query}" if query else "")
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        seen.requests.append((environ["REQUEST_METHOD"], path, headers, body))
        status, extra, out = handler(environ)
        start_response(f"{status} X", extra)
        return [out]
    return app


def serve(handler, *, tls: tuple[Path, Path] | None = None) -> tuple[WSGIServer, Recorded]:
    seen = Recorded()
    kwargs = {"certfile": str(tls[0]), "keyfile": str(tls[1])} if tls else {}
    server = WSGIServer(("127.0.0.1", 0), wsgi(handler, seen), log=None, error_log=None, **kwargs)
    server.start()
    return server, seen


def slow(seconds: float, status: int = 200, body: bytes = b"{}"):
    def handler(environ):
        gevent.sleep(seconds)
        return status, [("Content-Type", "application/json")], body
    return handler


def ticks_during(action: Callable[[], object], every: float = 0.01) -> tuple[object, int, float]:
    """Run ``action`` while another greenlet ticks: (its result, ticks, seconds). A blocked
    event loop shows as no ticks."""
    count = 0

    def tick():
        nonlocal count
        while True:
            gevent.sleep(every)
            count += 1

    ticker = gevent.spawn(tick)
    started = time.monotonic()
    try:
        result = gevent.spawn(action).get()
    finally:
        ticker.kill()
    return result, count, time.monotonic() - started
