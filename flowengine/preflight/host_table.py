"""The FreeSWITCH hosts preflight knows, by peer address and Core-UUID, within bounds.

A :class:`Host` is what one host has and its check in progress; the :class:`HostTable` keeps
at most ``max_hosts`` peers, each with its latest few Core-UUIDs (a restarted FreeSWITCH has a
new one). A full table gives a peer's place to a new peer only once that peer has been silent
for ``idle_seconds``, so no peer can push another out; else the new peer's calls are neither
checked nor refused anything. The limits are :mod:`.hosts`'; why they are there:
docs/security.md, "Who may connect, and what a peer can change".
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .first_call import FirstAsks
from .inflight import InFlight
from .plan import Plan

log = logging.getLogger("flowengine.preflight")

_LABEL = re.compile(r"[^A-Za-z0-9_.:-]")


def host_name(channel: Any, peer: str = "-") -> str:
    """How a host is named in logs, the metric and ``/preflight``: its FreeSWITCH-Hostname
    (else its peer address; never its Core-UUID), only ``A-Za-z0-9_.:-``, at most 64
    characters."""
    name = channel.get("FreeSWITCH-Hostname") or peer or "-"
    return _LABEL.sub("_", str(name))[:64] or "-"


class Host:
    """One host (a peer address and its Core-UUID): what it has, and its check in progress."""

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
        "first",
    )

    def __init__(self, peer: str, core: str, name: str) -> None:
        self.peer = peer
        self.core = core
        self.name = name
        self.digest: str | None = None
        self.plan: Plan | None = None
        self.merged: set[str] = set()  # which needs are in the plan: "*" (the set) or flow names
        self.inflight = InFlight()
        self.applications: frozenset[str] | None = None
        self.finished = False
        self.reported: set[tuple] = set()  # problems already logged for this host
        self.first = FirstAsks()

    def take_first_answers(self, proto: Any) -> bool:
        """The answers to the calls' own ``show application`` that are in; whether ``proto``'s
        call asked one (it asks once)."""
        asked, answers = self.first.take(proto)
        for names in answers:
            if names is not None:
                self.applications = names
            if self.plan is not None:
                self.plan.know_applications(names)
            else:
                self.first.fresh = (names,)
        return asked

    def settle(self, now: float | None) -> bool:
        """Take the answers that are in (and give up on those that cannot come; ``now`` is
        the driver's clock, None: not known); whether that completed the check."""
        if self.first.asks:
            self.take_first_answers(None)
        if not self.inflight:
            return False
        self.inflight.settle(self.plan, now)
        plan = self.plan
        if plan is None:
            return False
        apps = plan.applications()
        if apps is not None:
            self.applications = apps
        return not self.inflight and plan.done and not self.finished


class _Peer:
    """One peer address: its hosts by Core-UUID (the latest last) and when it last called."""

    __slots__ = ("cores", "seen")

    def __init__(self, now: float) -> None:
        self.cores: OrderedDict[str, Host] = OrderedDict()
        self.seen = now


class HostTable:
    """The hosts by peer and Core-UUID; ``forget(peer)`` is told of a peer given up."""

    def __init__(self, max_hosts: int, *, max_cores: int, idle_seconds: float, forget: Callable[[str], None]) -> None:
        self.max_hosts = max_hosts
        self.max_cores = max_cores
        self.idle_seconds = idle_seconds
        self._forget = forget
        self._peers: OrderedDict[str, _Peer] = OrderedDict()  # least recently seen first
        self._full_logged = float("-inf")

    def find(self, peer: str, core: str | None) -> Host | None:
        if core is None:
            return None
        entry = self._peers.get(peer)
        return entry.cores.get(core) if entry is not None else None

    def host(self, peer: str, core: str, channel: Any, now: float) -> Host | None:
        """The host (peer, core), made if new; None when the table has no room for a new
        peer (every place held by a peer seen within ``idle_seconds``)."""
        entry = self._peers.get(peer)
        if entry is None:
            if len(self._peers) >= self.max_hosts and not self._free_a_place(now):
                if now - self._full_logged >= 60.0:
                    self._full_logged = now
                    log.warning(
                        "preflight: %d FreeSWITCH peers are known already, each seen within %g s; "
                        "calls from %s are not checked (nor refused anything)",
                        len(self._peers),
                        self.idle_seconds,
                        peer,
                    )
                return None
            entry = self._peers[peer] = _Peer(now)
        self._peers.move_to_end(peer)
        entry.seen = now
        host = entry.cores.get(core)
        if host is None:
            host = entry.cores[core] = Host(peer, core, host_name(channel, peer))
            while len(entry.cores) > self.max_cores:  # the peer's own oldest, no one else's
                entry.cores.popitem(last=False)
        entry.cores.move_to_end(core)
        return host

    def _free_a_place(self, now: float) -> bool:
        """Forget the least recently seen peer if it has been silent long enough."""
        address, oldest = next(iter(self._peers.items()))
        if now - oldest.seen < self.idle_seconds:
            return False
        del self._peers[address]
        self._forget(address)
        return True
