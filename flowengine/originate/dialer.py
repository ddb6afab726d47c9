"""Many calls started from flowengine, paced: the queue behind ``POST /calls``.

One inbound control connection (:class:`~.control.Control` on a gevent socket, in the
server's hub: nothing here blocks the calls) carries every ``bgapi originate``; a greenlet
reads its events and hands each to its call. Calls leave the queue no faster than
``rate`` a second and no more than ``at_once`` at a time (ringing or in their flow), in
total and per flow; a call not answered for a cause in ``retry_on`` (busy, no answer) is
queued again after ``retry_delay``, at most ``retries`` times. What is queued lives in this
process only: a restart loses the calls not yet started and forgets the others
(docs/originate.md, "What a restart loses").
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent import socket as gsocket
from gevent.event import Event as Wakeup

from ..esl import Event, Reply
from ..runtime import call_token
from .control import RETRIABLE, Control, ControlError, Dial, State
from .line import CallerId, originate_arg, socket_app

log = logging.getLogger("flowengine.originate")

#: a lag of the loop up to this long (seconds) is made up: calls then leave back to back
CATCH_UP = 0.05
#: how long after its ring timeout a call's token is still honoured
TOKEN_SLACK = 60.0


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


class Dialer:
    """The queue, its pacing and the control connection. ``on_done(job, dial)`` is told each
    attempt's end (the metrics)."""

    def __init__(
        self,
        freeswitch: tuple[str, int],
        password: str,
        engine: tuple[str, int],
        key: bytes,
        pacing: Pacing,
        *,
        on_done: Callable[[Job, Dial], None] | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self.freeswitch = freeswitch
        self.password = password
        self.app = socket_app(*engine)
        self.key = key
        self.pacing = pacing
        self.on_done = on_done
        self.connect_timeout = connect_timeout
        self.queue: deque[Job] = deque()
        self.active: dict[str, Job] = {}  # by the attempt's channel UUID
        self._jobs: dict[str, Job] = {}  # by the job's Job-UUID
        self._replies: deque[tuple[Job, bool]] = deque()  # (job, is its bgapi) per command sent
        self._last: dict[str | None, float] = {}  # when the last call left, in total (None) and per flow
        self._wakeup = Wakeup()
        self.control: Control | None = None
        self._greenlets: list[Any] = []

    # -- what the API calls --------------------------------------------------------------
    def start(self) -> None:
        self._greenlets = [gevent.spawn(self._dispatch), gevent.spawn(self._read)]

    def stop(self) -> None:
        gevent.killall(self._greenlets, block=False)
        if self.control is not None:
            self.control.sock.close()

    def submit(self, job: Job) -> bool:
        """Queue ``job``; False when the queue is full."""
        if len(self.queue) >= self.pacing.max_queued:
            return False
        self.queue.append(job)
        self._wakeup.set()
        return True

    # -- pacing ----------------------------------------------------------------------------
    def _next(self, now: float) -> tuple[Job | None, float]:
        """The job that may leave now, or None and how long until one might."""
        p = self.pacing
        wait = 1.0
        if len(self.active) >= p.at_once:
            return None, wait
        total = self._last.get(None, -1e9) + 1.0 / p.rate - now
        if total > 0:
            return None, total
        for job in self.queue:
            if job.not_before > now:
                wait = min(wait, job.not_before - now)
                continue
            if p.flow_at_once is not None and sum(j.flow == job.flow for j in self.active.values()) >= p.flow_at_once:
                continue
            if p.flow_rate is not None:
                gap = self._last.get(job.flow, -1e9) + 1.0 / p.flow_rate - now
                if gap > 0:
                    wait = min(wait, gap)
                    continue
            return job, 0.0
        return None, wait

    def _dispatch(self) -> None:
        while True:
            if self.control is None:
                gevent.sleep(0.05)
                continue
            now = time.monotonic()
            job, wait = self._next(now)
            if job is None:
                self._wakeup.clear()
                self._wakeup.wait(timeout=max(wait, 0.001))
                continue
            self.queue.remove(job)
            self._slot(None, self.pacing.rate, now)
            self._slot(job.flow, self.pacing.flow_rate, now)
            self._send(job)

    def _slot(self, key: str | None, rate: float | None, now: float) -> None:
        """The moment a call left, as the pacing counts it: its due time when it left a
        little late (up to :data:`CATCH_UP`: a wakeup's lag does not slow the rate down,
        and what it held back leaves at once), now when it left later."""
        if rate is None:
            self._last[key] = now
            return
        due = self._last.get(key, -1e9) + 1.0 / rate
        self._last[key] = due if 0 <= now - due < max(1.0 / rate, CATCH_UP) else now

    def _send(self, job: Job) -> None:
        dial = Dial()
        job.dial, job.attempts, job.state = dial, job.attempts + 1, State.RINGING.value
        try:
            token = call_token.issue(self.key, job.flow, job.vars, dial.uuid, time.time() + job.timeout + TOKEN_SLACK)
            arg = originate_arg(job.to, dial.uuid, call_token.VARIABLE, token, job.caller, job.timeout, self.app)
        except ValueError as exc:  # checked when the call was requested: not expected here
            self._finish(job, dial, f"NOT_SENT: {exc}")
            return
        self.active[dial.uuid] = job
        self._jobs[dial.job] = job
        self._replies.extend([(job, False), (job, False), (job, True)])
        assert self.control is not None  # _dispatch sends only with a connection
        try:
            self.control.send(dial.request(arg))
        except ControlError as exc:
            log.warning("call %s: %s", job.id, exc)

    # -- the control connection ------------------------------------------------------------
    def _connect(self) -> Control:
        host, port = self.freeswitch
        sock = gsocket.create_connection((host, port), timeout=self.connect_timeout)
        control = Control(sock, where=f"FreeSWITCH at {host}:{port}")
        control.login(self.password, self.connect_timeout)
        return control

    def _read(self) -> None:
        delay = 0.5
        while True:
            try:
                self.control = self._connect()
                delay = 0.5
                self._wakeup.set()
                while True:
                    for message in self.control.receive(None):
                        self._take(message)
            except (OSError, ControlError) as exc:
                log.warning("originate control connection: %s; again in %g s", exc, delay)
                self.control = None
                self._lost()
                gevent.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _take(self, message: Any) -> None:
        if isinstance(message, Reply):
            if self._replies:
                job, is_bgapi = self._replies.popleft()
                if is_bgapi and not message.ok and job.dial is not None:
                    self._finish(job, job.dial, message.text.strip().removeprefix("-ERR").strip()[:64])
            return
        if not isinstance(message, Event):
            return
        found = self._jobs.get(message.get("Job-UUID") or "") or self.active.get(message.get("Unique-ID") or "")
        if found is None or found.dial is None:
            return
        if found.dial.feed(message):
            self._finish(found, found.dial, None)
        elif found.dial.state is State.IN_FLOW:
            found.state = State.IN_FLOW.value

    def _lost(self) -> None:
        """The connection went with calls on it: their outcome will not be heard."""
        for job in list(self.active.values()):
            if job.dial is not None:
                self._finish(job, job.dial, "CONTROL_CONNECTION_LOST")
        self._replies.clear()

    def _finish(self, job: Job, dial: Dial, cause: str | None) -> None:
        if cause is not None:
            dial.cause, dial.state = cause, State.DONE
        self.active.pop(dial.uuid, None)
        self._jobs.pop(dial.job, None)
        if self.control is not None:
            self._replies.extend([(job, False), (job, False)])
            try:
                self.control.send(dial.release())
            except ControlError:
                pass
        job.cause, job.result = dial.cause, dial.result
        if self.on_done is not None:
            self.on_done(job, dial)
        if not dial.answered and dial.cause in self.pacing.retry_on and job.attempts <= self.pacing.retries:
            job.state, job.not_before = State.QUEUED.value, time.monotonic() + self.pacing.retry_delay
            job.outcome = f"retrying ({dial.cause})"
            self.queue.append(job)
            self._wakeup.set()
            return
        job.state = State.DONE.value
        job.outcome = "completed" if dial.completed else "failed" if dial.answered else "not answered"
