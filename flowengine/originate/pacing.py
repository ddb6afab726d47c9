"""What waits to be dialled and how fast it leaves: :class:`Pacing` (the operator's limits),
:class:`Job` (one requested call across its attempts) and :class:`Queue` (the jobs waiting
and when the last one left). The :class:`~.dialer.Dialer` asks the queue which job may leave
now; the queue knows nothing of the control connection or of a call once it has left.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gevent.event import Event as Wakeup

from .bounds import check
from .control import RETRIABLE, Dial, State
from .line import CallerId

#: a lag of the loop up to this long (seconds) is made up: calls then leave back to back
CATCH_UP = 0.05


@dataclass
class Pacing:
    """How fast calls leave the queue. ``None``: no limit of that kind."""

    rate: float = 1.0  # calls started a second, in total
    at_once: int = 10  # calls ringing or in their flow, in total
    flow_rate: float | None = None  # … per flow
    flow_at_once: int | None = None
    retries: int = 0  # further attempts after a busy / no answer
    retry_delay: float = 60.0
    retry_on: frozenset[str] = RETRIABLE
    max_queued: int = 10_000  # calls waiting; past it a request is refused
    ring_grace: float = 15.0  # after a call's ring timeout, how long its BACKGROUND_JOB may take
    max_call: float = 4 * 3600.0  # the longest an answered call keeps its place (then hung up)

    def __post_init__(self) -> None:
        """Refuse what cannot pace (:mod:`.bounds`): a rate of 0 would divide by zero in the
        dispatcher, NaN or a negative one lift the limit, an ``at_once`` of 0 dials nothing."""
        check("rate", self.rate, least=0, above=True)
        check("at_once", self.at_once, least=1, integer=True)
        if self.flow_rate is not None:
            check("flow_rate", self.flow_rate, least=0, above=True)
        if self.flow_at_once is not None:
            check("flow_at_once", self.flow_at_once, least=1, integer=True)
        check("retries", self.retries, least=0, integer=True)
        check("retry_delay", self.retry_delay, least=0)
        check("max_queued", self.max_queued, least=1, integer=True)
        check("ring_grace", self.ring_grace, least=0)
        check("max_call", self.max_call, least=0, above=True)


@dataclass
class Job:
    """One requested call, across its attempts."""

    id: str
    to: str  # the dial string, checked (:func:`.line.dial_string`)
    flow: str
    vars: dict[str, str]
    caller: CallerId
    timeout: float
    created: float = field(default_factory=time.time)
    attempts: int = 0
    dial: Dial | None = None
    not_before: float = 0.0  # monotonic: a retry waits until then
    state: str = State.QUEUED.value
    outcome: str | None = None  # completed / failed / not answered
    cause: str | None = None
    result: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "to": self.to,
            "flow": self.flow,
            "state": self.state,
            "attempts": self.attempts,
            "outcome": self.outcome,
            "cause": self.cause,
            "result": self.result,
            "uuid": self.dial.uuid if self.dial is not None else None,
            "created": self.created,
        }


class Queue:
    """The jobs waiting, in order, and when the last call left (in total and per flow):
    which job may leave now under :class:`Pacing`, given the calls holding a place."""

    def __init__(self, pacing: Pacing) -> None:
        self.pacing = pacing
        self.jobs: deque[Job] = deque()
        self._last: dict[str | None, float] = {}  # when the last call left, in total (None) and per flow
        self._wakeup = Wakeup()

    def add(self, job: Job) -> bool:
        """Queue ``job``; False when the queue is full."""
        if len(self.jobs) >= self.pacing.max_queued:
            return False
        self.again(job)
        return True

    def again(self, job: Job) -> None:
        """Queue ``job`` whatever the queue holds: a retry, which had its place already."""
        self.jobs.append(job)
        self._wakeup.set()

    def wake(self) -> None:
        """Have :meth:`sleep` return: a place may be free, or a connection back."""
        self._wakeup.set()

    def sleep(self, wait: float) -> None:
        """Until :meth:`wake` or ``wait`` seconds (what :meth:`next` said)."""
        self._wakeup.clear()
        self._wakeup.wait(timeout=max(wait, 0.001))

    def next(self, now: float, active: Mapping[str, Job]) -> tuple[Job | None, float]:
        """The job that may leave now, or None and how long until one might."""
        p = self.pacing
        wait = 1.0
        if len(active) >= p.at_once:
            return None, wait
        total = self._last.get(None, -1e9) + 1.0 / p.rate - now
        if total > 0:
            return None, total
        for job in self.jobs:
            if job.not_before > now:
                wait = min(wait, job.not_before - now)
                continue
            if p.flow_at_once is not None and sum(j.flow == job.flow for j in active.values()) >= p.flow_at_once:
                continue
            if p.flow_rate is not None:
                gap = self._last.get(job.flow, -1e9) + 1.0 / p.flow_rate - now
                if gap > 0:
                    wait = min(wait, gap)
                    continue
            return job, 0.0
        return None, wait

    def take(self, job: Job, now: float) -> None:
        """``job`` leaves the queue at ``now``, as the pacing counts it."""
        self.jobs.remove(job)
        self._slot(None, self.pacing.rate, now)
        self._slot(job.flow, self.pacing.flow_rate, now)

    def _slot(self, key: str | None, rate: float | None, now: float) -> None:
        """The moment a call left, as the pacing counts it: its due time when it left a
        little late (up to :data:`CATCH_UP`: a wakeup's lag does not slow the rate down,
        and what it held back leaves at once), now when it left later."""
        if rate is None:
            self._last[key] = now
            return
        due = self._last.get(key, -1e9) + 1.0 / rate
        self._last[key] = due if 0 <= now - due < max(1.0 / rate, CATCH_UP) else now
