"""Prometheus metrics and the health check, served on their own port by gevent's WSGI server.

One registry per server (not the library's global one), so a test or a second server in
the same process counts on its own. Served in the server's own hub: no thread, and the
health check answers only while the gevent loop that accepts calls is running.
"""

from __future__ import annotations

import logging
from typing import Callable

from gevent.pywsgi import WSGIServer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger("flowengine.metrics")

# a prompt or a bridge lasts seconds to hours; set and answer take milliseconds
_STEP_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)

# a webhook answers in milliseconds; a request may take its whole timeout (at most 30 s)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.calls_active = Gauge("flowengine_calls_active", "Calls in progress", registry=registry)
        self.calls = Counter("flowengine_calls", "Calls ended, by flow and how they ended",
                             ["flow", "result"], registry=registry)
        self.steps = Histogram("flowengine_step_duration_seconds", "Time spent in a step, by step type",
                               ["step_type"], buckets=_STEP_BUCKETS, registry=registry)
        self.protocol_errors = Counter("flowengine_esl_protocol_errors", "Calls ended by malformed Event "
                                       "Socket input", registry=registry)
        self.bridges = Counter("flowengine_bridge_outcomes", "Bridge steps, by outcome", ["outcome"],
                               registry=registry)
        self.http = Counter("flowengine_http_requests", "HTTP requests of http steps, by flow, step, host and "
                            "outcome (2xx … 5xx, timeout, error)", ["flow", "step", "host", "outcome"],
                            registry=registry)
        self.http_seconds = Histogram("flowengine_http_request_duration_seconds", "HTTP requests of http steps, "
                                      "whole request with retries", ["flow", "step", "host"],
                                      buckets=_HTTP_BUCKETS, registry=registry)
        self.reloads = Counter("flowengine_flow_reloads", "Flow reloads, by result", ["result"],
                               registry=registry)

    # -- what the server and its flow calls report -------------------------------------
    def step(self, kind: str, outcome: str, seconds: float) -> None:
        self.steps.labels(kind).observe(seconds)
        if kind == "bridge":  # "hangup:<cause>" (the caller left) counts as "hangup": few labels
            self.bridges.labels(outcome.split(":", 1)[0]).inc()

    def http_request(self, flow: str, step: str, host: str, outcome: str, seconds: float) -> None:
        self.http.labels(flow, step, host, outcome).inc()
        self.http_seconds.labels(flow, step, host).observe(seconds)

    def call_ended(self, flow: str, result: str) -> None:
        self.calls.labels(flow, result).inc()

    def reload(self, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "failed").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def serve(metrics: Metrics, listen: tuple[str, int], healthy: Callable[[], bool]) -> WSGIServer:
    """Start ``GET /metrics`` and ``GET /healthz`` (200 while ``healthy()``, else 503)."""
    def app(environ, start_response):
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
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"/metrics or /healthz\n"]

    server = WSGIServer(listen, app, log=None, error_log=log)
    server.start()
    log.info("metrics on http://%s:%d/metrics", *server.address[:2])
    return server
