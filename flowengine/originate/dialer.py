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
A call given up on is hung up (``uuid_kill``), so that no call runs uncounted: it keeps its
place until FreeSWITCH answers the kill, and past a deadline reached with no connection it is
killed once the connection is back. When the control connection drops, the calls on it stay
counted: the new connection filters their events again and asks whether each channel still
exists (``uuid_exists``); one that is gone gives its place back (its end was not heard:
CONTROL_CONNECTION_LOST), one that exists and was not known answered is asked whether it was
(``endpoint_disposition``): answered while there was no connection, it is held to
``max_call``, not hung up at its ring deadline. A call whose originate line cannot be
written ends alone (NOT_SENT, with the reason); the queue goes on.

The dialer owns what it needs for each part: a :class:`~.pacing.Queue` (which call may
leave), a :class:`~.link.Link` (the connection, kept up), a :class:`~.recovery.Recovery`
(what a new connection asks for the calls still counted, and the kills it may have to
carry), and the calls holding a place (``active``) with their deadlines, kept here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent

from ..esl import ApiResponse, Event, Reply
from ..runtime import call_token
from .control import ControlError, Dial, State
from .line import originate_arg, socket_app
from .link import REPLY_TIMEOUT, WRITE_TIMEOUT, Link
from .pacing import Job, Pacing, Queue
from .recovery import KILL_CAUSE, Recovery

log = logging.getLogger("flowengine.originate")

#: how long after its ring timeout a call's token is still honoured
TOKEN_SLACK = 60.0
#: how often the calls' deadlines are looked at (seconds)
SWEEP = 0.5


class Dialer:
    """Calls from the queue (:class:`~.pacing.Queue`) to FreeSWITCH over the control
    connection (:class:`~.link.Link`), each followed to its end or its deadline.
    ``on_done(job, dial)`` is told each attempt's end (the metrics)."""

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
        write_timeout: float = WRITE_TIMEOUT,
        reply_timeout: float = REPLY_TIMEOUT,
    ) -> None:
        self.app = socket_app(*engine)
        self.key = key
        self.pacing = pacing
        self.on_done = on_done
        self.waiting = Queue(pacing)
        self.queue = self.waiting.jobs  # the jobs waiting, as the API counts them
        self.active: dict[str, Job] = {}  # by the attempt's channel UUID
        self._jobs: dict[str, Job] = {}  # by the job's Job-UUID
        self.link = Link(
            freeswitch,
            password,
            connect_timeout,
            on_up=self._connected,
            on_event=self._heard,
            write_timeout=write_timeout,
            reply_timeout=reply_timeout,
        )
        self.recovery = Recovery(self.link, self.active, pacing, self._finish)
        self._greenlets: list[Any] = []

    # -- what the API calls --------------------------------------------------------------
    def start(self) -> None:
        self._greenlets = [gevent.spawn(self._dispatch), gevent.spawn(self.link.run), gevent.spawn(self._watch)]

    def stop(self) -> None:
        gevent.killall(self._greenlets, block=False)
        self.link.close()

    def submit(self, job: Job) -> bool:
        """Queue ``job``; False when the queue is full."""
        return self.waiting.add(job)

    # -- sending ---------------------------------------------------------------------------
    def _dispatch(self) -> None:
        while True:
            if not self.link.up:
                gevent.sleep(0.05)
                continue
            now = time.monotonic()
            job, wait = self.waiting.next(now, self.active)
            if job is None:
                self.waiting.sleep(wait)
                continue
            self.waiting.take(job, now)
            try:
                self._send(job)
            except Exception:  # noqa: BLE001 - one call's failure is that call's: the queue goes on
                log.exception("call %s: not sent", job.id)
                if job.dial is not None and job.state != State.DONE.value:
                    self.active.pop(job.dial.uuid, None)
                    self._jobs.pop(job.dial.job, None)
                    job.state, job.outcome, job.cause = State.DONE.value, "not answered", "NOT_SENT: internal error"

    def _send(self, job: Job) -> None:
        dial = Dial()
        job.dial, job.attempts, job.state = dial, job.attempts + 1, State.RINGING.value
        try:  # checked when the call was requested; what still cannot be written ends this call alone
            token = call_token.issue(self.key, job.flow, job.vars, dial.uuid, time.time() + job.timeout + TOKEN_SLACK)
            arg = originate_arg(job.to, dial.uuid, call_token.VARIABLE, token, job.caller, job.timeout, self.app)
            data = dial.request(arg)
        except ValueError as exc:  # UnsafeValue, TokenTooBig and UnicodeEncodeError are ValueErrors
            reason = str(exc).encode("utf-8", "backslashreplace").decode()[:160]
            log.warning("call %s: not sent: %s", job.id, reason)
            self._finish(job, dial, f"NOT_SENT: {reason}")
            return
        self.active[dial.uuid] = job
        self._jobs[dial.job] = job
        try:  # _dispatch sends only with a connection
            self.link.send(data, None, None, lambda reply: self._sent(job, dial, reply))
        except ControlError as exc:
            log.warning("call %s: %s", job.id, exc)

    # -- what the control connection tells -------------------------------------------------
    def _heard(self, message: Event) -> None:
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

    def _connected(self) -> None:
        """A new connection: follow the calls again (:meth:`.Recovery.follow_again`), then dial."""
        self.recovery.follow_again()
        self.waiting.wake()

    # -- deadlines and ends ----------------------------------------------------------------
    def _watch(self) -> None:
        """Give up the calls past their deadline (:meth:`_deadline`), every :data:`SWEEP`."""
        while True:
            gevent.sleep(SWEEP)
            now = time.monotonic()
            for job in list(self.active.values()):
                dial = job.dial
                if dial is None or dial.uuid not in self.active or dial.giving_up is not None:
                    continue  # (one given up on ends when its kill is answered)
                if self._deadline(job, dial) <= now:
                    try:
                        self._give_up(job, dial)
                    except Exception:  # noqa: BLE001 - one call's failure must not end every call's deadline
                        log.exception("call %s (%s): not given up", job.id, dial.uuid)

    def _deadline(self, job: Job, dial: Dial) -> float:
        """When the call stops holding its place: its ring timeout and ``ring_grace`` after
        it was sent, until it is known answered (its BACKGROUND_JOB, or CHANNEL_ANSWER);
        ``max_call`` after its answer then."""
        sent = dial.sent_at if dial.sent_at is not None else time.monotonic()
        if dial.answered_at is None:
            return sent + job.timeout + self.pacing.ring_grace
        return dial.answered_at + self.pacing.max_call

    def _give_up(self, job: Job, dial: Dial) -> None:
        """Hang the call up (it may exist: a job lost, an answer not heard) and free its
        place once FreeSWITCH has answered the kill. Without a connection the call stays
        counted, and is hung up once the connection is back (:meth:`.Recovery.follow_again`): a
        place given back while the call may be up lets one call more than ``at_once`` run."""
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
        dial.giving_up = KILL_CAUSE if answered else "NO_BACKGROUND_JOB"
        if answered:
            dial.answered = True
        if not self.recovery.kill(job, dial):
            log.warning("call %s (%s): no control connection: kept counted until it is back", job.id, dial.uuid)

    def _finish(self, job: Job, dial: Dial, cause: str | None) -> None:
        if cause is not None:
            dial.cause, dial.state = cause, State.DONE
        self.active.pop(dial.uuid, None)
        self._jobs.pop(dial.job, None)
        self.link.try_send(dial.release(), None, None)
        job.cause, job.result = dial.cause, dial.result
        if self.on_done is not None:
            self.on_done(job, dial)
        if not dial.answered and dial.cause in self.pacing.retry_on and job.attempts <= self.pacing.retries:
            job.state, job.not_before = State.QUEUED.value, time.monotonic() + self.pacing.retry_delay
            job.outcome = f"retrying ({dial.cause})"
            self.waiting.again(job)
            return
        job.state = State.DONE.value
        job.outcome = "completed" if dial.completed else "failed" if dial.answered else "not answered"
