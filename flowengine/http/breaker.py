"""A circuit breaker per host: a CRM that is down must not hold every caller for its timeout.

After ``threshold`` consecutive failures (a timeout, a connection error, a 5xx) the host is
*open* for ``cooldown`` seconds: requests to it fail at once with the ``error`` outcome.
Then one request is let through (*half-open*); its success closes the circuit, its failure
opens it again for another cooldown.

A trial can also end with no answer at all: the caller hangs up and the server drops the
request (kills its greenlet). That says nothing of the host, so :meth:`Breaker.dropped`
puts the circuit back where it was before the trial: open, its cooldown already over, and
the next request is the trial. Not a fresh cooldown: then a caller who hangs up during each
trial would hold a host's circuit open for every other call although the host never failed;
trying again at once costs one more request to a host that may still be down, which the end
of the cooldown allowed anyway. Left half-open, no request would ever go to the host again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Callable


class Circuit(StrEnum):
    CLOSED = "closed"        # requests go
    OPEN = "open"            # failing fast until the cooldown is over
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
    trial: Admission | None = None   # the half-open trial in flight


class Breaker:
    def __init__(self, threshold: int = 5, cooldown: float = 30.0, *, max_hosts: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_hosts = max_hosts          # bounded: the hosts come from the flows, but still
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
            entry.state = Circuit.OPEN     # the cooldown's end (until) is already past
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
