"""A circuit breaker per host: a CRM that is down must not hold every caller for its timeout.

After ``threshold`` consecutive failures the host is open for ``cooldown`` seconds, then one
trial decides; a trial dropped by its caller decides nothing (:meth:`Breaker.dropped`).
Why: docs/http.md, "The client".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Circuit(StrEnum):
    CLOSED = "closed"  # requests go
    OPEN = "open"  # failing fast until the cooldown is over
    HALF_OPEN = "half_open"  # one trial request is in flight


class Admission:
    """A request let through (:meth:`Breaker.admit`): ``trial`` when it is the half-open trial."""

    __slots__ = ("trial",)

    def __init__(self, trial: bool) -> None:
        self.trial = trial


_ORDINARY = Admission(False)


@dataclass
class _Host:
    failures: int = 0
    state: Circuit = Circuit.CLOSED
    until: float = 0.0
    trial: Admission | None = None  # the half-open trial in flight


class Breaker:
    def __init__(
        self,
        threshold: int = 5,
        cooldown: float = 30.0,
        *,
        max_hosts: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_hosts = max_hosts  # bounded: the hosts come from the flows, but still
        self.clock = clock
        self._hosts: dict[str, _Host] = {}

    def state(self, host: str) -> Circuit:
        return self._hosts[host].state if host in self._hosts else Circuit.CLOSED

    def admit(self, host: str) -> Admission | None:
        """May a request to ``host`` go now? None if not; half-open lets exactly one through,
        the trial (its :class:`Admission` is what :meth:`dropped` is told of)."""
        entry = self._hosts.get(host)
        if entry is None or entry.state == Circuit.CLOSED:
            return _ORDINARY
        if entry.state == Circuit.OPEN and self.clock() >= entry.until:
            entry.state = Circuit.HALF_OPEN
            entry.trial = Admission(True)
            return entry.trial
        return None

    def allow(self, host: str) -> bool:
        return self.admit(host) is not None

    def dropped(self, host: str, admission: Admission) -> None:
        """A request admitted as ``admission`` ended without an answer (the call dropped it).
        If it was the host's trial, the next request may be the trial (see the module)."""
        entry = self._hosts.get(host)
        if entry is not None and entry.state == Circuit.HALF_OPEN and entry.trial is admission:
            entry.state = Circuit.OPEN  # the cooldown's end (until) is already past
            entry.trial = None

    def succeeded(self, host: str) -> None:
        self._hosts.pop(host, None)

    def failed(self, host: str) -> None:
        entry = self._hosts.get(host)
        if entry is None:
            if len(self._hosts) >= self.max_hosts:
                self._hosts.pop(next(iter(self._hosts)))
            entry = self._hosts[host] = _Host()
        entry.failures += 1
        if entry.state == Circuit.HALF_OPEN or entry.failures >= self.threshold:
            entry.state = Circuit.OPEN
            entry.trial = None
            entry.until = self.clock() + self.cooldown
