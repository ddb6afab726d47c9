"""What each FreeSWITCH host has, learned from the host itself over the calls' own sockets.

FreeSWITCH reports much of what a host lacks as silence or a hung-up caller (an
application it does not have: switch_core_session.c "Invalid Application",
DESTINATION_OUT_OF_ORDER, any_application; a record folder: record_missing_directory; a
say language: language_missing). So the first call from each host (told apart by
``Core-UUID``, new at every FreeSWITCH start), and the first after a reload, asks the host
what the flows need (:mod:`.plan`), over that call's own socket (``socket … full``): the
commands go out in the same write as the call's first step, after it, so that step is not
held back, and nobody waits for their answers; the next batch goes out with a later write
of the same call once these are answered. A call that ends first leaves what it did not
get to the next call from the host.

Two uses, one mechanism. With ``preflight`` (the server) every need of the flow set is
checked and each problem reported once per host (a log line naming the flow's
file:line:col and the host, :attr:`Hosts.on_report` for the metric, :meth:`Hosts.reports`
for ``/preflight``). Without it only the applications a call's flow runs through
``execute`` are asked (``show application``). Either way, once a host's applications are
known a command naming one it lacks is refused before it is sent (:meth:`Hosts.has`), and
the step takes the flow's ``on_error``; until the answer is in, nothing is refused.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import FlowengineError
from ..esl import ApiResponse, Reply, Ticket, commands
from ..flows.flowset import FlowSet
from ..flows.model import Flow
from .needs import application_needs, set_needs
from .plan import Plan, Problem

log = logging.getLogger("flowengine.preflight")

#: hosts remembered at once (each a Core-UUID); the oldest is forgotten past this
MAX_HOSTS = 1024
#: a command asked this long ago and still unanswered is taken as lost (asked again)
STALE_SECONDS = 60.0
#: host reports ``/preflight`` keeps (the most recent)
MAX_REPORTS = 64

_LABEL = re.compile(r"[^A-Za-z0-9_.-]")


class UnknownApplication(FlowengineError, ValueError):
    """The FreeSWITCH host that runs this call has no such application."""


def host_name(channel: Any) -> str:
    """How a host is named in logs, the metric and ``/preflight``: its FreeSWITCH-Hostname
    (else its Core-UUID), only ``A-Za-z0-9_.-``, at most 64 characters."""
    name = channel.get("FreeSWITCH-Hostname") or channel.get("Core-UUID") or "-"
    return _LABEL.sub("_", str(name))[:64] or "-"


@dataclass
class HostReport:
    """One host's check of one flow set: what it lacks, what could not be checked."""

    host: str
    core: str
    digest: str
    sound_prefix: str | None
    problems: list[Problem]
    skipped: int            # needs preflight cannot check (a path from the call, no sound_prefix)
    unchecked: int          # needs past the cap, or never answered
    checked_at: float = field(default_factory=time.time)

    def as_json(self) -> dict:
        return {"host": self.host, "core_uuid": self.core, "flow_set": self.digest,
                "sound_prefix": self.sound_prefix, "checked_at": round(self.checked_at, 3),
                "problems": [p.as_json() for p in self.problems], "skipped": self.skipped,
                "unchecked": self.unchecked}


class _Host:
    __slots__ = ("core", "name", "digest", "plan", "merged", "inflight", "applications", "finished",
                 "reported")

    def __init__(self, core: str, name: str) -> None:
        self.core = core
        self.name = name
        self.digest: str | None = None
        self.plan: Plan | None = None
        self.merged: set[str] = set()          # which needs are in the plan: "*" (the set) or flow names
        self.inflight: list[tuple[str, Ticket, Any, float]] = []   # (command, ticket, protocol, asked at)
        self.applications: frozenset[str] | None = None
        self.finished = False
        self.reported: set[tuple] = set()      # problems already logged for this host


class Hosts:
    """Per host (Core-UUID): what it has, and the check in progress. The server shares one
    (:data:`HOSTS`); ``enabled=False`` never asks and never refuses (a replay of what a host
    did); ``preflight=True`` checks every need of the flow set."""

    def __init__(self, max_hosts: int = MAX_HOSTS, *, enabled: bool = True, preflight: bool = False,
                 on_report: Callable[[HostReport], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_hosts = max_hosts
        self.enabled = enabled
        self.preflight = preflight
        self.on_report = on_report
        self.clock = clock
        self._hosts: OrderedDict[str, _Host] = OrderedDict()
        self._reports: OrderedDict[str, HostReport] = OrderedDict()   # by host name

    # -- what a flow call does -------------------------------------------------------------
    def begin(self, channel: Any, flowset: FlowSet, flow: Flow, proto: Any, now: float | None = None) -> bytes:
        """A call from ``channel``'s host was routed to ``flow``: the commands it should
        ask, to write after its first step (b"" when the host has nothing to be asked)."""
        core = channel.get("Core-UUID") if self.enabled else None
        if core is None:
            return b""
        now = self.clock() if now is None else now   # the driver's clock, for STALE_SECONDS
        host = self._host(core, channel)
        self._settle(host, now)
        if host.plan is None or host.digest != flowset.digest:   # a new host, or a reload
            host.digest = flowset.digest
            host.plan = Plan(sound_prefix=channel.get("variable_sound_prefix"))
            host.merged = set()
            host.finished = False
        key = "*" if self.preflight else flow.name
        if key not in host.merged:
            host.merged.add(key)
            needs = set_needs(flowset) if self.preflight else application_needs(flow, flowset)
            if needs:
                host.plan.add(needs)
                host.finished = False
        return self._ask(host, proto, now)

    def more(self, core: str | None, proto: Any, now: float | None = None, *,
             may_ask: bool = True) -> tuple[bytes, bool]:
        """After a read of a call that asked: the next batch once this one is answered
        (only if ``may_ask``: the bytes must be written, in order, right after the call's
        own), and whether the call still has commands in flight."""
        host = self._hosts.get(core) if core is not None else None
        if host is None or not host.inflight or host.inflight[0][2] is not proto:
            return b"", False
        now = self.clock() if now is None else now
        self._settle(host, now)
        if host.inflight:
            return b"", True
        if not may_ask or proto.gone is not None or proto.closed:
            return b"", False
        data = self._ask(host, proto, now)
        return data, bool(data)

    def has(self, core: str | None, app: str) -> bool:
        """False only when the host is known to lack ``app``."""
        if core is None or not self.enabled:
            return True
        host = self._hosts.get(core)
        if host is None:
            return True
        if host.inflight:
            self._settle(host, None)
        return host.applications is None or app in host.applications

    def reports(self) -> list[HostReport]:
        """The latest report of each host checked (at most :data:`MAX_REPORTS`)."""
        return list(self._reports.values())

    # -- the rest ------------------------------------------------------------------------------
    def _host(self, core: str, channel: Any) -> _Host:
        host = self._hosts.get(core)
        if host is None:
            host = self._hosts[core] = _Host(core, host_name(channel))
            while len(self._hosts) > self.max_hosts:
                self._hosts.popitem(last=False)
        self._hosts.move_to_end(core)
        return host

    def _ask(self, host: _Host, proto: Any, now: float) -> bytes:
        if host.inflight or host.plan is None:     # one call asks for a host at a time
            return b""
        queries = host.plan.take()
        if not queries:
            if host.plan.done and not host.finished:
                self._finish(host)
            return b""
        out = []
        for query in queries:
            data = commands.api(query)
            host.inflight.append((query, proto.command(data), proto, now))
            out.append(data)
        return b"".join(out)

    def _settle(self, host: _Host, now: float | None) -> None:
        """Take the answers that are in (and give up on those that cannot come; ``now``
        is the driver's clock, the one the commands were asked by, None: not known)."""
        if not host.inflight:
            return
        plan, keep = host.plan, []
        for entry in host.inflight:
            query, ticket, proto, asked = entry
            if ticket.done:
                result = ticket.result if ticket.error is None else None
                body = result.body if isinstance(result, ApiResponse) else \
                    result.text if isinstance(result, Reply) else None   # -ERR without `full`
                if plan is not None:
                    plan.answered(query, body)
            elif proto.closed or proto.finished or (now is not None and now - asked > STALE_SECONDS):
                if not ticket.done:
                    proto.abandon(ticket)
                if plan is not None:
                    plan.answered(query, None)
            else:
                keep.append(entry)
        host.inflight = keep
        if plan is None:
            return
        apps = plan.applications()
        if apps is not None:
            host.applications = apps
        if not keep and plan.done and not host.finished:
            self._finish(host)

    def _finish(self, host: _Host) -> None:
        """The check is complete: report it, each problem logged once for this host."""
        host.finished = True
        plan = host.plan
        if plan is None or not self.preflight:
            return
        problems = plan.problems()
        report = HostReport(host.name, host.core, host.digest or "", plan.sound_prefix, problems,
                            len(plan.skipped), plan.over_cap + len(plan.unanswered()))
        for problem in problems:
            key = (problem.where, problem.kind, problem.value)
            if key not in host.reported:
                host.reported.add(key)
                log.warning("preflight: %s", problem.line(host.name),   # the formatter escapes controls
                            extra={"flow": problem.flow, "step": problem.step})
        log.info("preflight of FreeSWITCH host %s (Core-UUID %s): %d problem(s), %d need(s) not checkable, "
                 "%d not checked", host.name, host.core, len(problems), report.skipped, report.unchecked)
        self._reports.pop(host.name, None)
        self._reports[host.name] = report
        while len(self._reports) > MAX_REPORTS:
            self._reports.popitem(last=False)
        if self.on_report is not None:
            self.on_report(report)


#: the server's hosts, shared by every call of the process (full preflight)
HOSTS = Hosts(preflight=True)
