"""Hostile requests to the flow map's pages, served over real HTTP on loopback."""

from __future__ import annotations

from pathlib import Path

from gevent import socket

from flowengine.server.flow_map import flow_map_routes
from flowengine.server.library import FlowLibrary
from flowengine.server.metrics import Metrics
from flowengine.server.metrics_http import serve

FLOW = """\
name: desk
numbers: ["5000"]
start: bye
steps:
  bye: {hangup: NORMAL_CLEARING}
"""


def _get(address, path: str) -> tuple[str, bytes]:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode(), body


def test_an_asset_name_longer_than_the_file_system_allows_is_not_found_not_a_server_error(tmp_path: Path):
    """``/flows/+assets/<300 letters>.js`` reaches os.stat, which raises ENAMETOOLONG (an
    OSError, not a False from is_file): the page answers 500 and logs a traceback for
    each such request, where any other name it does not serve is a 404."""
    (tmp_path / "desk.yaml").write_text(FLOW)
    library = FlowLibrary(tmp_path)
    metrics = Metrics()
    metrics.flows_loaded(library.current)
    web = serve(metrics, ("127.0.0.1", 0), lambda: True, routes=flow_map_routes(library, metrics, lambda: []))
    try:
        status, body = _get(web.address[:2], "/flows/+assets/" + "a" * 300 + ".js")
        assert status.endswith("404 Not Found"), status
        assert body == b"no such file\n"
    finally:
        web.close()
