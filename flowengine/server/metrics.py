"""Prometheus metrics and the health check, served on their own port by gevent's WSGI server.

One registry per server (not the library's global one), so a test or a second server in the
same process counts on its own. Served in the server's own hub: no thread, and the health
check answers only while the gevent loop that accepts calls is running. Each connection serves
one request within :data:`REQUEST_SECONDS`, the port holds at most
:data:`~.guard.METRICS_CONNECTIONS`, and a full port answers ``429``. Why: docs/security.md,
"Who may connect, and what a peer can change"; docs/operations.md, "Metrics, health, logs".
"""

from __future__ import annotations

import json
import logging
import platform
import socket
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import gevent
from gevent.pywsgi import WSGIHandler, WSGIServer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

import flowengine

from ..flows.flowset import FlowSet
from ..flows.model import Step
from ..flows.routes import transitions
from ..flows.steps import KINDS, NeedKind
from ..runtime.result import CallResult
from .guard import METRICS_CONNECTIONS, METRICS_PER_PEER, Refusals, RestingAccept, Waiting

log = logging.getLogger("flowengine.metrics")

#: FreeSWITCH peers the preflight metric names; the rest share the labels ``other``
MAX_HOST_LABELS = 32
#: seconds a request on the metrics port may take, from the wait for its first byte to its
#: answer written (a scrape takes milliseconds)
REQUEST_SECONDS = 5.0
#: a connection that has not sent its request this long gives its place to a new one of
#: its own address (another address's takes it at once); a client sends at once
IDLE_SECONDS = 1.0
#: what a port refuses, and why (``flowengine_connections_refused``)
REFUSALS = {"calls": ("not_allowed", "full", "peer_full", "idle"), "metrics": ("full", "idle", "timeout", "malformed")}

# a prompt or a bridge lasts seconds to hours; set and answer take milliseconds
_STEP_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)

# a webhook answers in milliseconds; a request may take its whole timeout (at most 30 s)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class Metrics:
    """What a server counts, for dashboards and alerts (``deploy/grafana/flowengine.json``).

    Label values are bounded by what the operator loaded, never by what a call sends:
    ``flow`` and ``step`` are names from the loaded flow files (``-`` for a call no flow
    serves); ``outcome`` is one of the flow's own names (an ``on:`` key, a menu choice,
    a ``when`` branch ``when[0]`` / ``else``, a ``goto``'s ``goto`` / ``exceeded``) or a fixed word
    (the kind's outcomes, ``error``,
    ``gone``, ``return``, ``transferred``, ``hangup``, and ``other`` for what the flow does
    not name: a digit no ``on:`` key takes, an application's answer). So the series are
    at most the flows' steps times their outcomes, whatever callers do; a flow removed by
    a reload keeps its series until the process restarts.

    The series an alert reads exist from the start at 0 (:meth:`flows_loaded`), since
    ``rate()`` or ``increase()`` cannot see the first increment of a series that did not
    exist before it.
    """

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.calls_active = Gauge("flowengine_calls_active", "Calls in progress", registry=registry)
        self.calls = Counter(
            "flowengine_calls", "Calls ended, by flow and how they ended", ["flow", "result"], registry=registry
        )
        self.steps = Histogram(
            "flowengine_step_duration_seconds",
            "Time spent in a step, by step type",
            ["step_type"],
            buckets=_STEP_BUCKETS,
            registry=registry,
        )
        self.outcomes = Counter(
            "flowengine_step_outcomes",
            "Steps ended, by flow, step and outcome (labels from the loaded flows only)",
            ["flow", "step", "outcome"],
            registry=registry,
        )
        self.attempts = Counter(
            "flowengine_menu_attempts",
            "Failed tries of a menu (no_input, invalid), each one, also those it retries",
            ["flow", "step", "result"],
            registry=registry,
        )
        self.protocol_errors = Counter(
            "flowengine_esl_protocol_errors", "Calls ended by malformed Event Socket input", registry=registry
        )
        self.bridges = Counter("flowengine_bridge_outcomes", "Bridge steps, by outcome", ["outcome"], registry=registry)
        self.http = Counter(
            "flowengine_http_requests",
            "HTTP requests of http steps, by flow, step, host and outcome (2xx … 5xx, timeout, error)",
            ["flow", "step", "host", "outcome"],
            registry=registry,
        )
        self.http_seconds = Histogram(
            "flowengine_http_request_duration_seconds",
            "HTTP requests of http steps, whole request with retries",
            ["flow", "step", "host"],
            buckets=_HTTP_BUCKETS,
            registry=registry,
        )
        self.http_worker_restarts = Counter(
            "flowengine_http_worker_restarts",
            "Times the HTTP worker process stopped (its requests in flight ended as errors) and another was started",
            registry=registry,
        )
        self.reloads = Counter("flowengine_flow_reloads", "Flow reloads, by result", ["result"], registry=registry)
        self.build = Gauge(
            "flowengine_build_info",
            "Always 1: the flowengine version running",
            ["version", "python"],
            registry=registry,
        )
        self.flow_set = Gauge(
            "flowengine_flow_set_info",
            "Always 1: the flow set in force (digest of its "
            "flows' content; the same on every host serving the same files)",
            ["digest"],
            registry=registry,
        )
        self.flow_count = Gauge("flowengine_flows", "Flows in the set in force", registry=registry)
        self.preflight = Gauge(
            "flowengine_preflight_problems",
            "What the flows need that a FreeSWITCH host "
            "lacks, by host, its address (peer) and kind, at its latest check (host - "
            "until one is checked)",
            ["host", "peer", "kind"],
            registry=registry,
        )
        self._preflight_hosts: dict[str, str] = {}  # peer -> the host name its series carry
        self.connections_refused = Counter(
            "flowengine_connections_refused",
            "Connections closed at once, by "
            "port (calls, metrics) and reason (not_allowed: not in --allow; "
            "full: at the port's cap; peer_full: at --max-calls-per-peer; idle: "
            "made room for another; timeout: a request not read and answered in "
            "time; malformed: not HTTP)",
            ["port", "reason"],
            registry=registry,
        )
        for port, reasons in REFUSALS.items():
            for reason in reasons:
                self.connections_refused.labels(port, reason)
        self.resumed = Counter(
            "flowengine_calls_resumed",
            "Calls taken over from another host at the step its failover checkpoint names",
            ["flow"],
            registry=registry,
        )
        self.resume_refused = Counter(
            "flowengine_resumptions_refused",
            "Failover checkpoints not resumed, by reason (malformed, version, flow, step, signature)",
            ["reason"],
            registry=registry,
        )
        from ..runtime.checkpoint import Refused

        for reason in Refused:
            self.resume_refused.labels(reason.value)
        for kind in NeedKind:
            self.preflight.labels("-", "-", kind.value).set(0)
        self._digest: str | None = None
        self.build.labels(flowengine.__version__, platform.python_version()).set(1)
        for result in ("ok", "failed"):
            self.reloads.labels(result)
        for step_kind in KINDS.values():  # the kinds that dial out: their outcomes at 0
            counted = step_kind.dial_outcome
            if counted is not None:
                for outcome in step_kind.outcomes:
                    self.bridges.labels(counted(outcome))
        self.calls.labels("-", CallResult.UNROUTED)

    # -- what the server and its flow calls report -------------------------------------
    def flows_loaded(self, flows: FlowSet, pause: Callable[[], None] = lambda: None) -> None:
        """A set is in force (at start, after each reload): its identity, and its flows'
        series at 0 — every call result, and every outcome the flows name. ``pause()``
        after each flow lets a reload's calls run meanwhile (:func:`.library.pauser`)."""
        if self._digest is not None and self._digest != flows.digest:
            self.flow_set.remove(self._digest)
        self._digest = flows.digest
        self.flow_set.labels(flows.digest).set(1)
        self.flow_count.set(len(flows.flows))
        results = [r for r in CallResult if r is not CallResult.UNROUTED]
        for flow in flows.flows.values():
            for result in results:
                self.calls.labels(flow.name, result)
            self.resumed.labels(flow.name)
            for step in flow.steps.values():
                self.steps.labels(step.kind)
                for outcome in named_outcomes(step):
                    self.outcomes.labels(flow.name, step.name, outcome)
                for failure in KINDS[step.kind].attempt_failures:
                    self.attempts.labels(flow.name, step.name, failure)
            pause()

    def step(self, flow: str, step: str, kind: str, outcome: str, seconds: float) -> None:
        self.steps.labels(kind).observe(seconds)
        self.outcomes.labels(flow, step, outcome).inc()
        counted = KINDS[kind].dial_outcome if kind in KINDS else None
        if counted is not None:
            self.bridges.labels(counted(outcome)).inc()

    def attempt(self, flow: str, step: str, failure: str) -> None:
        self.attempts.labels(flow, step, failure).inc()

    def http_request(self, flow: str, step: str, host: str, outcome: str, seconds: float) -> None:
        self.http.labels(flow, step, host, outcome).inc()
        self.http_seconds.labels(flow, step, host).observe(seconds)

    def call_ended(self, flow: str, result: str) -> None:
        self.calls.labels(flow, result).inc()

    def reload(self, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "failed").inc()

    def refused(self, port: str, reason: str) -> Any:
        """The counter of one kind of refused connection (one of :data:`REFUSALS`)."""
        return self.connections_refused.labels(port, reason)

    def preflight_report(self, report: Any) -> None:
        """A host's check is complete (:class:`flowengine.preflight.HostReport`): its
        problems by kind, every kind at its count (0 too). One host per peer address, the
        latest checked, named as its channel data names it; at most :data:`MAX_HOST_LABELS`
        peers (``other`` past that): a peer's report never changes another peer's series."""
        host, peer = report.host, report.peer
        if peer not in self._preflight_hosts and len(self._preflight_hosts) >= MAX_HOST_LABELS:
            host = peer = "other"
        if not self._preflight_hosts:  # a real host now: the placeholder series go
            for kind in NeedKind:
                self.preflight.remove("-", "-", kind.value)
        before = self._preflight_hosts.get(peer)
        if before is not None and before != host:  # the peer's host is named otherwise now
            for kind in NeedKind:
                self.preflight.remove(before, peer, kind.value)
        self._preflight_hosts[peer] = host
        counts = {kind: 0 for kind in NeedKind}
        for problem in report.problems:
            counts[problem.kind] += 1
        for kind, count in counts.items():
            self.preflight.labels(host, peer, kind.value).set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def named_outcomes(step: Step) -> list[str]:
    """The outcomes of ``step`` a flow names, as :class:`Metrics` labels them: its kind's
    fixed ones and its ``on:`` keys, choices and branches (``when[0]``, ``else``)."""
    names = dict.fromkeys(KINDS[step.kind].outcomes)
    for transition in transitions(step):
        if transition.path[0] == "next":
            continue
        names[transition.edge] = None
    return list(names)


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


def serve(
    metrics: Metrics, listen: tuple[str, int], healthy: Callable[[], bool], preflight: Callable[[], list] = lambda: []
) -> MetricsServer:
    """Start ``GET /metrics``, ``GET /healthz`` (200 while ``healthy()``, else 503) and
    ``GET /preflight``: each host's latest check as JSON (``preflight()`` gives the
    :class:`flowengine.preflight.HostReport` list). Every answer says ``Connection: close``."""

    def app(environ, start):
        def start_response(status: str, headers: list) -> Any:
            return start(status, headers + [("Connection", "close")])

        path = environ.get("PATH_INFO", "/")
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
