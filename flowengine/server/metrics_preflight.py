"""The ``flowengine_preflight_problems`` series of :class:`~.metrics.Metrics`: what the flows
need that each FreeSWITCH host lacks, by kind, at its latest check. Its label values come
from the hosts' peers, so at most :data:`MAX_HOST_LABELS` of them are named.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from ..flows.steps import NeedKind

#: FreeSWITCH peers the preflight metric names; the rest share the labels ``other``
MAX_HOST_LABELS = 32


class PreflightSeries:
    """The gauge, and the host name each peer's series carry. Until a host is checked, one
    placeholder series per kind (host and peer ``-``) reads 0."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.gauge = Gauge(
            "flowengine_preflight_problems",
            "What the flows need that a FreeSWITCH host "
            "lacks, by host, its address (peer) and kind, at its latest check (host - "
            "until one is checked)",
            ["host", "peer", "kind"],
            registry=registry,
        )
        self.hosts: dict[str, str] = {}  # peer -> the host name its series carry
        for kind in NeedKind:
            self.gauge.labels("-", "-", kind.value).set(0)

    def report(self, report: Any) -> None:
        """A host's check is complete (:class:`flowengine.preflight.HostReport`): its
        problems by kind, every kind at its count (0 too). One host per peer address, the
        latest checked, named as its channel data names it; at most :data:`MAX_HOST_LABELS`
        peers (``other`` past that): a peer's report never changes another peer's series."""
        host, peer = report.host, report.peer
        if peer not in self.hosts and len(self.hosts) >= MAX_HOST_LABELS:
            host = peer = "other"
        if not self.hosts:  # a real host now: the placeholder series go
            for kind in NeedKind:
                self.gauge.remove("-", "-", kind.value)
        before = self.hosts.get(peer)
        if before is not None and before != host:  # the peer's host is named otherwise now
            for kind in NeedKind:
                self.gauge.remove(before, peer, kind.value)
        self.hosts[peer] = host
        counts = {kind: 0 for kind in NeedKind}
        for problem in report.problems:
            counts[problem.kind] += 1
        for kind, count in counts.items():
            self.gauge.labels(host, peer, kind.value).set(count)
