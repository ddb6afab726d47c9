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

Here the calls' entry points and the limits; the parts are the hosts table
(:mod:`.host_table`), the commands in flight (:mod:`.inflight`), the first call's wait
(:mod:`.first_call`) and the reports (:mod:`.report`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import FlowengineError
from ..esl import Ticket
from ..flows.flowset import FlowSet
from ..flows.model import Flow
from ..flows.steps.execute import standard_applications
from .host_table import Host, HostTable
from .needs import application_needs, set_needs
from .plan import Plan
from .report import HostReport, Reports

#: peers (addresses) whose hosts are remembered at once
MAX_HOSTS = 1024
#: Core-UUIDs remembered per peer, the latest; an older one gives way to a newer one
MAX_CORES_PER_PEER = 4
#: a peer unseen this long may give its place to a new peer when the table is full
IDLE_SECONDS = 3600.0

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


class UnknownApplication(FlowengineError, ValueError):
    """The FreeSWITCH host that runs this call has no such application."""


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
        self.enabled = enabled
        self.preflight = preflight
        self.on_report = on_report
        self.clock = clock
        self._reports = Reports()
        self._table = HostTable(
            max_hosts, max_cores=MAX_CORES_PER_PEER, idle_seconds=IDLE_SECONDS, forget=self._reports.forget
        )

    @property
    def max_hosts(self) -> int:
        return self._table.max_hosts

    @max_hosts.setter
    def max_hosts(self, value: int) -> None:
        self._table.max_hosts = value

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
        known = self._table.find(peer, core)
        if known is not None:
            self._settle(known, now)
            if known.take_first_answers(proto) or known.applications is not None or known.first.listed:
                return b"", None
        host = known or self._table.host(peer, core, channel, now)
        if host is None or host.first.full:
            return b"", None
        return host.first.ask(proto)

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
        now = self.clock() if now is None else now  # the driver's clock, for inflight.STALE_SECONDS
        host = self._table.host(peer, core, channel, now)
        if host is None:
            return b""
        self._settle(host, now)
        if host.plan is None or host.digest != flowset.digest:  # a new host, or a reload
            host.digest = flowset.digest
            host.plan = Plan(sound_prefix=channel.get("variable_sound_prefix"))
            host.merged = set()
            host.finished = False
        if host.first.fresh is not None:  # the list a call asked for itself: not asked again
            host.plan.know_applications(host.first.fresh[0])
            host.first.fresh = None
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
        host = self._table.find(peer, core)
        if host is None or not host.inflight.carried_by(proto):
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
        host = self._table.find(peer, core)
        if host is None:
            return True
        if host.inflight:
            self._settle(host, None)
        return host.applications is None or app in host.applications

    def reports(self) -> list[HostReport]:
        """The latest report of each peer's host checked (at most :data:`.report.MAX_REPORTS`)."""
        return self._reports.latest()

    # -- the rest ------------------------------------------------------------------------------
    def _ask(self, host: Host, proto: Any, now: float) -> bytes:
        if host.inflight or host.plan is None:  # one call asks for a host at a time
            return b""
        queries = host.plan.take()
        if not queries:
            if host.plan.done and not host.finished:
                self._finish(host)
            return b""
        return host.inflight.ask(queries, proto, now)

    def _settle(self, host: Host, now: float | None) -> None:
        """Take the answers that are in (and give up on those that cannot come; ``now``
        is the driver's clock, the one the commands were asked by, None: not known)."""
        if host.settle(now):
            self._finish(host)

    def _finish(self, host: Host) -> None:
        """The check is complete: report it, each problem logged once for this host."""
        host.finished = True
        if host.plan is not None and self.preflight:
            report = self._reports.finish(host, host.plan)
            if self.on_report is not None:
                self.on_report(report)


#: the server's hosts, shared by every call of the process (full preflight)
HOSTS = Hosts(preflight=True)
