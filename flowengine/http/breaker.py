"""A circuit breaker per host: a CRM that is down must not hold every caller for its timeout.

After ``threshold`` consecutive failures (a timeout, a connection error, a 5xx) the host is
*open* for ``cooldown`` seconds: requests to it fail at once with the ``error`` outcome.
Then one request is let through (*half-open*); its success closes the circuit, its failure
opens it again for another cooldown.
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


@dataclass
class _Host:
    failures: int = 0
    state: Circuit = Circuit.CLOSED
    until: float = 0.0


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

    def allow(self, host: str) -> bool:
        """May a request to ``host`` go now? (Half-open lets exactly one through.)"""
        entry = self._hosts.get(host)
        if entry is None or entry.state == Circuit.CLOSED:
            return True
        if entry.state == Circuit.OPEN and self.clock() >= entry.until:
            entry.state = Circuit.HALF_OPEN
            return True
        return False

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
            entry.until = self.clock() + self.cooldown
