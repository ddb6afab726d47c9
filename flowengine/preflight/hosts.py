"""What each FreeSWITCH host has, learned from the host itself over the calls' own sockets.

The first call from each host (a peer address and its ``Core-UUID``), and the first after a
reload, asks what the flows need (:mod:`.plan`) in its own writes, nobody waiting for the
answers; problems are reported once per host, and a command naming an application the host
lacks is refused before it is sent (:meth:`Hosts.has`). Only a call whose flow may run an
application outside FreeSWITCH's standard set, to a host whose list is not yet known, waits
for that list before its first command (:meth:`Hosts.first`): one round trip, which keeps
FreeSWITCH from hanging the caller up on an application it lacks (any_application).
What is asked and why: docs/freeswitch.md, "Preflight: asking the host", and
docs/operations.md, "Preflight"; what a peer's answers may change: docs/security.md, "Who may
connect, and what a peer can change".
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import FlowengineError
from ..esl import ApiResponse, Reply, Ticket, commands
from ..flows.flowset import FlowSet
from ..flows.model import Flow
from ..flows.steps.execute import standard_applications
from .needs import application_needs, set_needs
from .plan import SHOW_APPLICATION, Plan, Problem, read_list

log = logging.getLogger("flowengine.preflight")

#: peers (addresses) whose hosts are remembered at once
MAX_HOSTS = 1024
#: Core-UUIDs remembered per peer, the latest; an older one gives way to a newer one
MAX_CORES_PER_PEER = 4
#: a peer unseen this long may give its place to a new peer when the table is full
IDLE_SECONDS = 3600.0
#: a command asked this long ago and still unanswered is taken as lost (asked again)
STALE_SECONDS = 60.0
#: host reports ``/preflight`` keeps, one per peer (the first peers checked keep theirs)
MAX_REPORTS = 64
#: calls of one host waiting for its application list at once (:meth:`Hosts.first`); more
#: go at once, as every call did before the list was waited for
MAX_FIRST_ASKS = 64

#: The applications the step kinds send themselves (``Execute`` in flows/steps/*.py and
#: the interpreter's hangup), all of mod_dptools (mod_dptools.c, SWITCH_ADD_APP), which a
#: host that runs any flow has: an answer without one of them is not believed. The
#: applications of other modules a kind sends (conference, callcenter) are declared as its
#: needs, and a host may well lack those.
ENGINE_APPLICATIONS = frozenset(
    {
        "answer",
        "pre_answer",
        "playback",
        "play_and_get_digits",
        "speak",
        "say",
        "record",
        "record_session",
        "stop_record_session",
        "sleep",
        "set",
        "export",
        "unset",
        "bridge",
        "transfer",
        "hangup",
    }
)

_LABEL = re.compile(r"[^A-Za-z0-9_.:-]")


class UnknownApplication(FlowengineError, ValueError):
    """The FreeSWITCH host that runs this call has no such application."""


def host_name(channel: Any, peer: str = "-") -> str:
    """How a host is named in logs, the metric and ``/preflight``: its FreeSWITCH-Hostname
    (else its peer address; never its Core-UUID), only ``A-Za-z0-9_.:-``, at most 64
    characters."""
    name = channel.get("FreeSWITCH-Hostname") or peer or "-"
    return _LABEL.sub("_", str(name))[:64] or "-"


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


class _Host:
    __slots__ = (
        "peer",
        "core",
        "name",
        "digest",
        "plan",
        "merged",
        "inflight",
        "applications",
        "finished",
        "reported",
        "first_asks",
        "listed",
        "fresh",
    )

    def __init__(self, peer: str, core: str, name: str) -> None:
        self.peer = peer
        self.core = core
        self.name = name
        self.digest: str | None = None
        self.plan: Plan | None = None
        self.merged: set[str] = set()  # which needs are in the plan: "*" (the set) or flow names
        self.inflight: list[tuple[str, Ticket, Any, float]] = []  # (command, ticket, protocol, asked at)
        self.applications: frozenset[str] | None = None
        self.finished = False
        self.reported: set[tuple] = set()  # problems already logged for this host
        self.first_asks: list[tuple[Any, Ticket]] = []  # (protocol, ticket): calls waiting for the list
        self.listed = False  # a list answer came to a call's own question (believed or not)
        self.fresh: tuple[frozenset[str] | None] | None = None  # that answer, for the next plan

    def take_first_answers(self, proto: Any) -> bool:
        """The answers to the calls' own ``show application`` that are in; whether ``proto``'s
        call asked one (it asks once)."""
        asked, keep = False, []
        for entry in self.first_asks:
            other, ticket = entry
            if other is proto:
                asked = True
            if ticket.done:
                if ticket.error is None:  # whatever it said, no call waits for it again
                    result = ticket.result
                    names = read_list(result.body, "application") if isinstance(result, ApiResponse) else None
                    self.listed = True
                    if names is not None:
                        self.applications = names
                    if self.plan is not None:
                        self.plan.know_applications(names)
                    else:
                        self.fresh = (names,)
            elif other is not proto and not other.closed and not other.finished:
                keep.append(entry)
            elif not ticket.done:
                other.abandon(ticket)
        self.first_asks = keep
        return asked


class _Peer:
    """One peer address: its hosts by Core-UUID (the latest last) and when it last called."""

    __slots__ = ("cores", "seen")

    def __init__(self, now: float) -> None:
        self.cores: OrderedDict[str, _Host] = OrderedDict()
        self.seen = now


class PeerHosts:
    """:class:`Hosts` as one connection sees it: what it says and asks is of its own peer
    address's hosts only (what a :class:`~flowengine.call.flow_call.FlowCall` is given)."""

    __slots__ = ("hosts", "peer")

    def __init__(self, hosts: Hosts, peer: str) -> None:
        self.hosts = hosts
        self.peer = peer

    def begin(self, channel: Any, flowset: FlowSet, flow: Flow, proto: Any, now: float | None = None) -> bytes:
        return self.hosts.begin(channel, flowset, flow, proto, now, peer=self.peer)

    def first(
        self, channel: Any, flowset: FlowSet, flow: Flow, proto: Any, now: float | None = None
    ) -> tuple[bytes, Ticket | None]:
        return self.hosts.first(channel, flowset, flow, proto, now, peer=self.peer)

    def more(
        self, core: str | None, proto: Any, now: float | None = None, *, may_ask: bool = True
    ) -> tuple[bytes, bool]:
        return self.hosts.more(core, proto, now, may_ask=may_ask, peer=self.peer)

    def has(self, core: str | None, app: str) -> bool:
        return self.hosts.has(core, app, peer=self.peer)


class Hosts:
    """Per host (peer address and Core-UUID): what it has, and the check in progress. The
    server shares one (:data:`HOSTS`), each call through :meth:`for_peer`; ``enabled=False``
    never asks and never refuses (a replay of what a host did); ``preflight=True`` checks
    every need of the flow set. ``max_hosts`` bounds the peers."""

    def __init__(
        self,
        max_hosts: int = MAX_HOSTS,
        *,
        enabled: bool = True,
        preflight: bool = False,
        on_report: Callable[[HostReport], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_hosts = max_hosts
        self.enabled = enabled
        self.preflight = preflight
        self.on_report = on_report
        self.clock = clock
        self._peers: OrderedDict[str, _Peer] = OrderedDict()  # least recently seen first
        self._reports: dict[str, HostReport] = {}  # by peer
        self._full_logged = float("-inf")

    def for_peer(self, peer: str) -> PeerHosts:
        """The view a connection from ``peer`` (its address) gets."""
        return PeerHosts(self, peer)

    # -- what a flow call does -------------------------------------------------------------
    def first(
        self, channel: Any, flowset: FlowSet, flow: Flow, proto: Any, now: float | None = None, *, peer: str = "-"
    ) -> tuple[bytes, Ticket | None]:
        """Before a call routed to ``flow`` sends its first command: when the flow (or one
        it calls) may execute an application outside FreeSWITCH's standard set
        (flows/data/freeswitch_applications.txt) and nothing says yet whether this host has
        it, ``api show application`` to write now and the ticket of its answer, which the
        call waits for before its first command (b"", None: go at once). FreeSWITCH hangs
        the caller up on an application it lacks (switch_core_session.c,
        switch_core_session_execute_application_get_flags: "Invalid Application",
        DESTINATION_OUT_OF_ORDER; any_application), and the questions
        :meth:`begin` asks go out only after that command. A call asks once: routed again
        after the answer, it goes at once whatever the answer said."""
        core = channel.get("Core-UUID")
        if not self.enabled or core is None or proto.control != "full" or not self._unusual(flow, flowset):
            return b"", None
        now = self.clock() if now is None else now
        known = self._find(peer, core)
        if known is not None:
            self._settle(known, now)
            if known.take_first_answers(proto) or known.applications is not None or known.listed:
                return b"", None
        host = known or self._host(peer, core, channel, now)
        if host is None or len(host.first_asks) >= MAX_FIRST_ASKS:
            return b"", None
        data = commands.api(SHOW_APPLICATION)
        ticket = proto.command(data)
        host.first_asks.append((proto, ticket))
        return data, ticket

    @staticmethod
    def _unusual(flow: Flow, flowset: FlowSet) -> bool:
        """Whether a call of ``flow`` may execute an application outside FreeSWITCH's
        standard set (and the engine's own); worked out once per flow."""
        found = flow.__dict__.get("_unusual_applications")
        if found is None:
            usual = standard_applications() | ENGINE_APPLICATIONS
            found = any(n.need.value not in usual for n in application_needs(flow, flowset))
            flow.__dict__["_unusual_applications"] = found
        return found

    def begin(
        self, channel: Any, flowset: FlowSet, flow: Flow, proto: Any, now: float | None = None, *, peer: str = "-"
    ) -> bytes:
        """A call from ``channel``'s host at ``peer`` was routed to ``flow``: the commands
        it should ask, to write after its first step (b"" when the host has nothing to be
        asked, or is not tracked)."""
        core = channel.get("Core-UUID") if self.enabled else None
        if core is None:
            return b""
        now = self.clock() if now is None else now  # the driver's clock, for STALE_SECONDS
        host = self._host(peer, core, channel, now)
        if host is None:
            return b""
        self._settle(host, now)
        if host.plan is None or host.digest != flowset.digest:  # a new host, or a reload
            host.digest = flowset.digest
            host.plan = Plan(sound_prefix=channel.get("variable_sound_prefix"))
            host.merged = set()
            host.finished = False
        if host.fresh is not None:  # the list a call asked for itself: not asked again
            host.plan.know_applications(host.fresh[0])
            host.fresh = None
        key = "*" if self.preflight else flow.name
        if key not in host.merged:
            host.merged.add(key)
            needs = set_needs(flowset) if self.preflight else application_needs(flow, flowset)
            if needs:
                host.plan.add(needs)
                host.finished = False
        return self._ask(host, proto, now)

    def more(
        self, core: str | None, proto: Any, now: float | None = None, *, may_ask: bool = True, peer: str = "-"
    ) -> tuple[bytes, bool]:
        """After a read of a call that asked: the next batch once this one is answered
        (only if ``may_ask``: the bytes must be written, in order, right after the call's
        own), and whether the call still has commands in flight."""
        host = self._find(peer, core)
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

    def has(self, core: str | None, app: str, *, peer: str = "-") -> bool:
        """False only when the host is known to lack ``app`` (never one of
        :data:`ENGINE_APPLICATIONS`)."""
        if core is None or not self.enabled or app in ENGINE_APPLICATIONS:
            return True
        host = self._find(peer, core)
        if host is None:
            return True
        if host.inflight:
            self._settle(host, None)
        return host.applications is None or app in host.applications

    def reports(self) -> list[HostReport]:
        """The latest report of each peer's host checked (at most :data:`MAX_REPORTS`)."""
        return list(self._reports.values())

    # -- the rest ------------------------------------------------------------------------------
    def _find(self, peer: str, core: str | None) -> _Host | None:
        if core is None:
            return None
        entry = self._peers.get(peer)
        return entry.cores.get(core) if entry is not None else None

    def _host(self, peer: str, core: str, channel: Any, now: float) -> _Host | None:
        """The host (peer, core), made if new; None when the table has no room for a new
        peer (every place held by a peer seen within :data:`IDLE_SECONDS`)."""
        entry = self._peers.get(peer)
        if entry is None:
            if len(self._peers) >= self.max_hosts and not self._free_a_place(now):
                if now - self._full_logged >= 60.0:
                    self._full_logged = now
                    log.warning(
                        "preflight: %d FreeSWITCH peers are known already, each seen within %g s; "
                        "calls from %s are not checked (nor refused anything)",
                        len(self._peers),
                        IDLE_SECONDS,
                        peer,
                    )
                return None
            entry = self._peers[peer] = _Peer(now)
        self._peers.move_to_end(peer)
        entry.seen = now
        host = entry.cores.get(core)
        if host is None:
            host = entry.cores[core] = _Host(peer, core, host_name(channel, peer))
            while len(entry.cores) > MAX_CORES_PER_PEER:  # the peer's own oldest, no one else's
                entry.cores.popitem(last=False)
        entry.cores.move_to_end(core)
        return host

    def _free_a_place(self, now: float) -> bool:
        """Forget the least recently seen peer if it has been silent long enough."""
        address, oldest = next(iter(self._peers.items()))
        if now - oldest.seen < IDLE_SECONDS:
            return False
        del self._peers[address]
        self._reports.pop(address, None)
        return True

    def _ask(self, host: _Host, proto: Any, now: float) -> bytes:
        if host.inflight or host.plan is None:  # one call asks for a host at a time
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
        if host.first_asks:
            host.take_first_answers(None)
        if not host.inflight:
            return
        plan, keep = host.plan, []
        for entry in host.inflight:
            query, ticket, proto, asked = entry
            if ticket.done:
                result = ticket.result if ticket.error is None else None
                body = (
                    result.body
                    if isinstance(result, ApiResponse)
                    else result.text
                    if isinstance(result, Reply)
                    else None
                )  # -ERR without `full`
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
        if host.peer in self._reports or len(self._reports) < MAX_REPORTS:  # no peer's replaces another's
            self._reports[host.peer] = report
        if self.on_report is not None:
            self.on_report(report)


#: the server's hosts, shared by every call of the process (full preflight)
HOSTS = Hosts(preflight=True)
