"""The metrics port: Prometheus metrics, the health check, ``/preflight`` and the pages of
``routes`` (the flow map, :mod:`.flow_map`), served by
gevent's WSGI server in the server's own hub (no thread: the health check answers only while
the loop that accepts calls runs). Each connection serves one request within
:data:`REQUEST_SECONDS`, the port holds at most :data:`~.guard.METRICS_CONNECTIONS`,
and a full port answers ``429``. Why: docs/security.md, "Who may connect, and what a peer can
change"; docs/operations.md, "Metrics, health, logs".
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import gevent
from gevent.pywsgi import WSGIHandler, WSGIServer
from prometheus_client import CONTENT_TYPE_LATEST

from .guard import METRICS_CONNECTIONS, METRICS_PER_PEER, Refusals, RestingAccept, Waiting
from .metrics import Metrics

log = logging.getLogger("flowengine.metrics")

#: seconds a request on the metrics port may take, from the wait for its first byte to its
#: answer written (a scrape takes milliseconds)
REQUEST_SECONDS = 5.0
#: a connection that has not sent its request this long gives its place to a new one of
#: its own address (another address's takes it at once); a client sends at once
IDLE_SECONDS = 1.0


class _Handler(WSGIHandler):
    """Each request, from the wait for its first byte to its answer written, within
    :data:`REQUEST_SECONDS`: past that the socket is shut, which ends the read or write
    waiting on it (as the peer closing would), and the connection with it. A request that
    is not HTTP is answered 400 and counted, with a log line a second at most (gevent's
    own prints a traceback for each)."""

    cut = False

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:  # the 400 for a request cut short went to a peer that is gone: nothing to say
            pass

    def read_request(self, raw_requestline: str) -> Any:
        """A whole request is in: one per connection, and no longer one that may give way."""
        result = super().read_request(raw_requestline)
        self.close_connection = True
        self.server.requested(self.socket)
        return result

    def handle_one_request(self) -> Any:
        timer = self.server.loop.timer(REQUEST_SECONDS)
        timer.start(self._too_slow)
        try:
            return super().handle_one_request()
        finally:
            timer.stop()
            timer.close()

    def handle_error(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        if self.cut:  # an answer cut short by our own shutdown: no traceback for it
            self.close_connection = True
            return
        super().handle_error(t, v, tb)

    def _handle_client_error(self, ex: BaseException) -> tuple[str, bytes] | None:
        if self.cut:  # what the read saw was our own shutdown
            return None
        self.server.malformed.refused(self._peer())
        return ("400", _BAD)

    def _peer(self) -> str:
        address = self.client_address
        return str(address[0]) if isinstance(address, tuple) and address else "-"

    def _too_slow(self) -> None:
        sock = getattr(self, "socket", None)
        if sock is None:
            return
        self.cut = True
        self.server.timed_out.refused(self._peer())
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


_BUSY = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _Held:
    """One connection the metrics port holds: until its request is in, it may give way."""

    __slots__ = ("sock", "peer", "started_at", "requested", "released")

    def __init__(self, sock: Any, peer: str) -> None:
        self.sock = sock
        self.peer = peer
        self.started_at = time.monotonic()
        self.requested = False
        self.released = False


class MetricsServer(RestingAccept, WSGIServer):
    """gevent's WSGI server with a time limit per request (:class:`_Handler`), one request
    per connection, and a cap on the connections it holds, in all and per peer address,
    which a connection that has not sent its request gives way under."""

    handler_class = _Handler

    def __init__(self, listen: tuple[str, int], app: Callable, metrics: Metrics | None = None) -> None:
        super().__init__(listen, app, log=None, error_log=log, spawn=self._capped)
        self.open: dict[str, int] = {}  # connections held, by peer address
        self._held: dict[Any, _Held] = {}  # by socket
        self._waiting: Waiting[_Held] = Waiting(lambda held: not held.requested and not held.released)
        self.busy = Refusals(
            f"the metrics port holds {METRICS_CONNECTIONS} connections (or {METRICS_PER_PEER} "
            "from this address) already, each one answering a request (answered 429)",
            counter=metrics.refused("metrics", "full") if metrics is not None else None,
        )
        self.idle = Refusals(
            "to make room for a new connection: it had not sent its request, the metrics port was "
            "full and its address held the most such connections",
            counter=metrics.refused("metrics", "idle") if metrics is not None else None,
            verb="closed a connection from",
        )
        self.timed_out = Refusals(
            f"its request on the metrics port was not read and answered within {REQUEST_SECONDS:g} s",
            counter=metrics.refused("metrics", "timeout") if metrics is not None else None,
            verb="cut",
        )
        self.malformed = Refusals(
            "its request on the metrics port is not HTTP (answered 400)",
            counter=metrics.refused("metrics", "malformed") if metrics is not None else None,
            verb="answered 400 to",
        )

    def _capped(self, run: Callable, handle: Callable, close: Callable, args: tuple) -> None:
        """The spawn of gevent's accept loop: a greenlet for a connection within the caps;
        one past them answered 503 and closed here and then (never waited for)."""
        sock, address = args
        peer = address[0] if isinstance(address, tuple) and address else "-"
        if not self._room(peer):
            try:
                sock.setblocking(False)
                sock.send(_BUSY)
            except OSError:
                pass
            close(*args)
            self.busy.refused(peer)
            return
        self.open[peer] = self.open.get(peer, 0) + 1
        held = self._held[sock] = _Held(sock, peer)
        self._waiting.add(peer, held)
        gevent.spawn(run, handle, close, args).rawlink(lambda _g: self._released(held))

    def _room(self, peer: str) -> bool:
        """Whether a new connection from ``peer`` may be held, an idle one closed for it
        if need be: of ``peer``'s own at its own cap, else of the address holding the most."""
        now = time.monotonic()
        ready = lambda held: now - held.started_at >= IDLE_SECONDS  # noqa: E731
        if self.open.get(peer, 0) >= METRICS_PER_PEER:
            idle = self._waiting.take_own(peer, ready)
        elif sum(self.open.values()) >= METRICS_CONNECTIONS:
            idle = self._waiting.make_room(peer, ready)
        else:
            return True
        if idle is None:
            return False
        self.idle.refused(idle.peer)
        self._released(idle)  # its place is the newcomer's now; its greenlet ends on the shutdown
        try:
            idle.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return True

    def requested(self, sock: Any) -> None:
        """The connection on ``sock`` has sent its request: it no longer gives way."""
        held = self._held.get(sock)
        if held is not None:
            held.requested = True
            self._waiting.discard(held)

    def _released(self, held: _Held) -> None:
        if held.released:
            return
        held.released = True
        self._waiting.discard(held)
        self._held.pop(held.sock, None)
        left = self.open.get(held.peer, 1) - 1
        if left > 0:
            self.open[held.peer] = left
        else:
            self.open.pop(held.peer, None)


#: a page of its own on the metrics port: called with the WSGI environ and ``start_response``
#: for every path under its prefix (``/flows`` serves ``/flows`` and ``/flows/…``), any method;
#: it returns the body
Route = Callable[[dict, Callable[[str, list], Any]], list[bytes]]


def _route_for(routes: dict[str, Route], path: str) -> Route | None:
    for prefix, route in routes.items():
        if path == prefix or path.startswith(prefix + "/"):
            return route
    return None


def serve(
    metrics: Metrics,
    listen: tuple[str, int],
    healthy: Callable[[], bool],
    preflight: Callable[[], list] = lambda: [],
    routes: dict[str, Route] | None = None,
) -> MetricsServer:
    """Start ``GET /metrics``, ``GET /healthz`` (200 while ``healthy()``, else 503) and
    ``GET /preflight``: each host's latest check as JSON (``preflight()`` gives the
    :class:`flowengine.preflight.HostReport` list); ``routes`` adds pages by path prefix
    (:data:`Route`). Every answer says ``Connection: close``."""
    pages = dict(routes or {})

    def app(environ, start):
        def start_response(status: str, headers: list) -> Any:
            return start(status, headers + [("Connection", "close")])

        path = environ.get("PATH_INFO", "/")
        route = _route_for(pages, path)
        if route is not None:
            return route(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain")])
            return [b"GET only\n"]
        if path == "/metrics":
            body = metrics.render()
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [body]
        if path == "/healthz":
            ok = healthy()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ok\n" if ok else b"not accepting calls\n"]
        if path == "/preflight":
            body = json.dumps({"hosts": [report.as_json() for report in preflight()]}, indent=1).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body + b"\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"/metrics, /healthz or /preflight\n"]

    server = MetricsServer(listen, app, metrics)
    server.start()
    log.info("metrics on http://%s:%d/metrics", *server.address[:2])
    return server
