"""Many calls started from flowengine, paced: the queue behind ``POST /calls``.

One inbound control connection (:class:`~.control.Control` on a gevent socket, in the
server's hub: nothing here blocks the calls) carries every ``bgapi originate``; a greenlet
reads its events and hands each to its call. Calls leave the queue no faster than
``rate`` a second and no more than ``at_once`` at a time (ringing or in their flow), in
total and per flow; a call not answered for a cause in ``retry_on`` (busy, no answer) is
queued again after ``retry_delay``, at most ``retries`` times. What is queued lives in this
process only: a restart loses the calls not yet started and forgets the others
(docs/originate.md, "What a restart loses").

A call keeps its place until its end is heard, and no longer than a deadline: its ring
timeout plus ``ring_grace`` for the BACKGROUND_JOB that says whether it was answered (a job
FreeSWITCH lost, or never sends, would hold the place for ever), ``max_call`` once answered.
A call given up on is hung up (``uuid_kill``), so that no call runs uncounted. When the
control connection drops, the calls on it stay counted: the new connection filters their
events again and asks whether each channel still exists (``uuid_exists``); only one that is
gone gives its place back (its end was not heard: CONTROL_CONNECTION_LOST).
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent import socket as gsocket
from gevent.event import Event as Wakeup

from ..esl import ApiResponse, Event, Reply, commands
from ..runtime import call_token
from .bounds import check
from .control import RETRIABLE, Control, ControlError, Dial, State
from .line import CallerId, originate_arg, socket_app

log = logging.getLogger("flowengine.originate")

#: a lag of the loop up to this long (seconds) is made up: calls then leave back to back
CATCH_UP = 0.05
#: how long after its ring timeout a call's token is still honoured
TOKEN_SLACK = 60.0
#: how often the calls' deadlines are looked at (seconds)
SWEEP = 0.5
#: the hangup cause given with ``uuid_kill`` to a call past its deadline (switch_types.h)
KILL_CAUSE = "ALLOTTED_TIMEOUT"


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
        # per command sent, in order: what its reply means (None: nothing)
        self._replies: deque[Callable[[Reply | ApiResponse], None] | None] = deque()
        self._last: dict[str | None, float] = {}  # when the last call left, in total (None) and per flow
        self._wakeup = Wakeup()
        self.control: Control | None = None
        self._greenlets: list[Any] = []

    # -- what the API calls --------------------------------------------------------------
    def start(self) -> None:
        self._greenlets = [gevent.spawn(self._dispatch), gevent.spawn(self._read), gevent.spawn(self._watch)]

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
        self._replies.extend([None, None, lambda reply: self._sent(job, dial, reply)])
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
                self._follow_again()
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
        if isinstance(message, (Reply, ApiResponse)):  # api's answer is api/response
            meaning = self._replies.popleft() if self._replies else None
            if meaning is not None:
                meaning(message)
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

    def _sent(self, job: Job, dial: Dial, reply: Reply | ApiResponse) -> None:
        """The reply to ``bgapi originate``: ``-ERR`` ends the attempt."""
        if isinstance(reply, Reply) and not reply.ok and job.dial is dial and dial.uuid in self.active:
            self._finish(job, dial, reply.text.strip().removeprefix("-ERR").strip()[:64])

    def _lost(self) -> None:
        """The connection went with calls on it: they keep their places (they may still be
        up; :meth:`_follow_again` asks when a connection is back, :meth:`_watch` ends them
        at their deadline). The replies still owed will never come."""
        self._replies.clear()

    def _follow_again(self) -> None:
        """On a new connection: each followed call's filters again (its events were the old
        connection's), then whether its channel still exists. A call whose events came while
        there was no connection is not heard again; one whose channel is gone ends now."""
        assert self.control is not None
        for job in list(self.active.values()):
            dial = job.dial
            if dial is None:
                continue
            self._replies.extend([None, None, functools.partial(self._exists, job, dial)])
            try:
                self.control.send(
                    commands.filter("Job-UUID", dial.job)
                    + commands.filter("Unique-ID", dial.uuid)
                    + commands.api(f"uuid_exists {dial.uuid}")
                )
            except ControlError:
                return

    def _exists(self, job: Job, dial: Dial, reply: Reply | ApiResponse) -> None:
        """``uuid_exists``'s answer (mod_commands.c, uuid_exists_function: ``true`` or
        ``false``). Anything else says nothing: the call keeps its place until its end or
        its deadline."""
        text = reply.body if isinstance(reply, ApiResponse) else ""
        if text.strip() == "false" and dial.uuid in self.active:
            self._finish(job, dial, "CONTROL_CONNECTION_LOST")

    def _watch(self) -> None:
        """Give up the calls past their deadline (:meth:`_deadline`), every :data:`SWEEP`."""
        while True:
            gevent.sleep(SWEEP)
            now = time.monotonic()
            for job in list(self.active.values()):
                dial = job.dial
                if dial is not None and dial.uuid in self.active and self._deadline(job, dial) <= now:
                    self._give_up(job, dial)

    def _deadline(self, job: Job, dial: Dial) -> float:
        """When the call stops holding its place: its ring timeout and ``ring_grace`` after
        it was sent, until it is known answered (its BACKGROUND_JOB, or CHANNEL_ANSWER);
        ``max_call`` after its answer then."""
        sent = dial.sent_at if dial.sent_at is not None else time.monotonic()
        if dial.answered_at is None:
            return sent + job.timeout + self.pacing.ring_grace
        return dial.answered_at + self.pacing.max_call

    def _give_up(self, job: Job, dial: Dial) -> None:
        """Hang the call up (it may exist: a job lost, an answer not heard) and free its place."""
        answered = dial.answered_at is not None
        log.warning(
            "call %s (%s): %s; hung up (%s)",
            job.id,
            dial.uuid,
            f"still up after {self.pacing.max_call:g} s"
            if answered
            else f"no answer from FreeSWITCH within {job.timeout + self.pacing.ring_grace:g} s",
            KILL_CAUSE,
        )
        if self.control is not None:
            self._replies.append(None)
            try:
                self.control.send(commands.api(f"uuid_kill {dial.uuid} {KILL_CAUSE}"))
            except ControlError:
                pass
        if answered:
            dial.answered = True
        self._finish(job, dial, KILL_CAUSE if answered else "NO_BACKGROUND_JOB")

    def _finish(self, job: Job, dial: Dial, cause: str | None) -> None:
        if cause is not None:
            dial.cause, dial.state = cause, State.DONE
        self.active.pop(dial.uuid, None)
        self._jobs.pop(dial.job, None)
        if self.control is not None:
            self._replies.extend([None, None])
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
