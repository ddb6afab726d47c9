"""A host's finished check as reported: :class:`HostReport` (``/preflight``, the metric,
``on_report``), each problem logged once per host, and the reports kept for ``/preflight``.

At most :data:`MAX_REPORTS` are kept, one per peer, and the first peers checked keep their
places: no peer's report replaces another's. What the log and ``/preflight`` show:
docs/operations.md, "Preflight".
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from .host_table import Host
from .plan import Plan, Problem

log = logging.getLogger("flowengine.preflight")

#: host reports ``/preflight`` keeps, one per peer (the first peers checked keep theirs)
MAX_REPORTS = 64


@dataclass
class HostReport:
    """One host's check of one flow set: what it lacks, what could not be checked."""

    host: str
    peer: str  # the address the host's calls came from
    core: str  # not shown (``as_json``): knowing it is of use to no one else
    digest: str
    sound_prefix: str | None
    problems: list[Problem]
    skipped: int  # needs preflight cannot check (a path from the call, no sound_prefix)
    unchecked: int  # needs past the cap, or never answered
    checked_at: float = field(default_factory=time.time)

    def as_json(self) -> dict:
        return {
            "host": self.host,
            "peer": self.peer,
            "flow_set": self.digest,
            "sound_prefix": self.sound_prefix,
            "checked_at": round(self.checked_at, 3),
            "problems": [p.as_json() for p in self.problems],
            "skipped": self.skipped,
            "unchecked": self.unchecked,
        }


class Reports:
    """The latest report of each peer's host checked, at most :data:`MAX_REPORTS`."""

    __slots__ = ("_by_peer",)

    def __init__(self) -> None:
        self._by_peer: dict[str, HostReport] = {}

    def latest(self) -> list[HostReport]:
        return list(self._by_peer.values())

    def forget(self, peer: str) -> None:
        """``peer`` gave its place up: its report goes with it."""
        self._by_peer.pop(peer, None)

    def finish(self, host: Host, plan: Plan) -> HostReport:
        """``host``'s check by ``plan`` is complete: its report, logged and kept."""
        problems = plan.problems()
        report = HostReport(
            host.name,
            host.peer,
            host.core,
            host.digest or "",
            plan.sound_prefix,
            problems,
            len(plan.skipped),
            plan.over_cap + len(plan.unanswered()),
        )
        for problem in problems:
            key = (problem.where, problem.kind, problem.value, problem.language)
            if key not in host.reported:
                host.reported.add(key)
                log.warning(
                    "preflight: %s",
                    problem.line(host.name),  # the formatter escapes controls
                    extra={"flow": problem.flow, "step": problem.step},
                )
        log.info(
            "preflight of FreeSWITCH host %s at %s (Core-UUID %s): %d problem(s), %d need(s) not "
            "checkable, %d not checked",
            host.name,
            host.peer,
            host.core,
            len(problems),
            report.skipped,
            report.unchecked,
        )
        if host.peer in self._by_peer or len(self._by_peer) < MAX_REPORTS:  # no peer's replaces another's
            self._by_peer[host.peer] = report
        return report
