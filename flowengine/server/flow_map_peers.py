"""With ``--workers N`` each worker counts its own calls and serves them on its own metrics
port (``PORT+i``): the flow map's page asks the other workers for theirs, over loopback,
so one page shows them all. A worker that does not answer in :data:`PEER_SECONDS` is named
on the page, never waited for longer (the page's own request has
:data:`~.metrics_http.REQUEST_SECONDS`).

The request is plain HTTP/1.0 on a gevent socket (the process is not monkey-patched), its
answer read to at most :data:`MAX_ANSWER_BYTES`.
"""

from __future__ import annotations

import json
from typing import Any

import gevent
from gevent import socket

#: the longest one worker waits for another's counts (connect, ask, read)
PEER_SECONDS = 1.5
#: a worker's answer larger than this is not read (a 1,000-step flow's is about 200 kB)
MAX_ANSWER_BYTES = 4 << 20


class PeerError(Exception):
    """Another worker's counts could not be had: the message says why, for the page."""


def local_host(host: str) -> str:
    """Where this process reaches a port bound to ``host``: loopback for "all addresses"."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def fetch_json(address: tuple[str, int], path: str, seconds: float = PEER_SECONDS) -> Any:
    """``GET path`` from ``address``: the JSON of a 200 answer, else :class:`PeerError`."""
    data = bytearray()
    try:
        with gevent.Timeout(seconds, PeerError(f"no answer within {seconds:g} s")):
            with socket.create_connection(address, timeout=seconds) as sock:
                sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {address[0]}\r\n\r\n".encode("ascii"))
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                    if len(data) > MAX_ANSWER_BYTES:
                        raise PeerError(f"its answer is larger than {MAX_ANSWER_BYTES} bytes")
    except OSError as exc:
        raise PeerError(exc.strerror or str(exc)) from None
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0]
    status = line.split(b" ")
    if len(status) < 2 or status[1] != b"200":
        raise PeerError(f"it answered {line.decode('latin-1')[:80]!r}")
    try:
        return json.loads(body)
    except ValueError:
        raise PeerError("its answer is not JSON") from None
