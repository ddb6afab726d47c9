"""Prometheus metrics: one registry per server (not the library's global one), so a test or a
second server in the same process counts on its own. Served on their own port with the
health check and ``/preflight`` by :mod:`.metrics_http`.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

import flowengine

from ..flows.flowset import FlowSet
from ..flows.model import Step
from ..flows.routes import transitions
from ..flows.steps import KINDS
from ..runtime.result import CallResult
from .flow_map_counts import Tally
from .metrics_preflight import PreflightSeries

log = logging.getLogger("flowengine.metrics")

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
        self.tally = Tally()  # the same counts again, with their last minutes (the flow map's)
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
        self.preflight = PreflightSeries(registry)
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
        ways: dict[tuple[str, str], tuple] = {}
        for flow in flows.flows.values():
            for result in results:
                self.calls.labels(flow.name, result)
            self.resumed.labels(flow.name)
            for step in flow.steps.values():
                ways[(flow.name, step.name)] = (step.kind, tuple((t.edge, t.target) for t in transitions(step)))
                self.steps.labels(step.kind)
                for outcome in named_outcomes(step):
                    self.outcomes.labels(flow.name, step.name, outcome)
                for failure in KINDS[step.kind].attempt_failures:
                    self.attempts.labels(flow.name, step.name, failure)
            pause()
        self.tally.loaded(ways)

    def step(self, flow: str, step: str, kind: str, outcome: str, seconds: float) -> None:
        self.steps.labels(kind).observe(seconds)
        self.outcomes.labels(flow, step, outcome).inc()
        self.tally.step_ended(flow, step, outcome)
        counted = KINDS[kind].dial_outcome if kind in KINDS else None
        if counted is not None:
            self.bridges.labels(counted(outcome)).inc()

    def attempt(self, flow: str, step: str, failure: str) -> None:
        self.attempts.labels(flow, step, failure).inc()
        self.tally.attempt(flow, step, failure)

    def http_request(self, flow: str, step: str, host: str, outcome: str, seconds: float) -> None:
        self.http.labels(flow, step, host, outcome).inc()
        self.http_seconds.labels(flow, step, host).observe(seconds)

    def call_ended(self, flow: str, result: str) -> None:
        self.calls.labels(flow, result).inc()
        self.tally.call_ended(flow, str(result))

    def reload(self, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "failed").inc()

    def refused(self, port: str, reason: str) -> Any:
        """The counter of one kind of refused connection (one of :data:`REFUSALS`)."""
        return self.connections_refused.labels(port, reason)

    def preflight_report(self, report: Any) -> None:
        """A host's check is complete (:meth:`.metrics_preflight.PreflightSeries.report`)."""
        self.preflight.report(report)

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
