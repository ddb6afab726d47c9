"""A flow call's step waiting on its HTTP request: the :class:`PendingRequest` a
:class:`~flowengine.call.flow_call.FlowCall` owns from its first request on.

The driver takes ``(token, request)`` from ``call.take_request()`` once one is due and
hands the result back with ``call.http_done(token, result, now)``; a hold prompt still
playing is stopped with ``api uuid_break`` first (docs/architecture.md, "A call without
I/O"). A token identifies one request: an answer to one the call no longer waits for is
ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..esl import OutboundProtocol, Ticket, commands
from ..flows.effects import Execute, HttpFailure, HttpRequest, HttpResult
from .phases import Then
from .waiting import CallWait

#: how long past a request's own timeout the call waits for its driver to answer
HTTP_GRACE = 1.0


class PendingRequest:
    """One call's HTTP requests: the next one (``queued`` until the write before it is
    done), the one in flight (``asked``, its token ``awaiting``, handed to the driver as
    ``out``), its hold prompt, and an answer waiting for that prompt to stop."""

    __slots__ = ("tokens", "awaiting", "out", "queued", "asked", "answer", "hold_at", "hold", "deadline")

    def __init__(self) -> None:
        self.tokens = 0
        self.awaiting: int | None = None
        self.out: tuple[int, HttpRequest] | None = None
        self.queued: HttpRequest | None = None
        self.asked: HttpRequest | None = None
        self.answer: HttpResult | None = None
        self.hold_at: float | None = None  # when the hold prompt starts (None: none, or started)
        self.hold: Ticket | None = None  # the hold prompt's playback
        self.deadline = 0.0  # when the request has timed out

    def take(self) -> tuple[int, HttpRequest] | None:
        """The request the driver must perform now, once (None: none is due)."""
        out, self.out = self.out, None
        return out

    def ask(self, now: float, wait: CallWait) -> bytes:
        """Hand the queued request to the driver (and start no prompt yet): the call
        waits for no answer until its next deadline, the hold prompt's start or the
        request's timeout (b"": nothing to write)."""
        request, self.queued = self.queued, None
        assert request is not None
        self.tokens += 1
        self.awaiting = self.tokens
        self.out = (self.tokens, request)
        self.asked = request
        self.deadline = now + request.timeout + HTTP_GRACE
        self.hold_at = now + request.hold.after if request.hold is not None else None
        wait.then = Then.RESUME
        wait.until(self.deadline if self.hold_at is None else min(self.deadline, self.hold_at))
        return b""

    def dropped(self) -> None:
        """The call no longer waits for the request in flight: its answer is ignored."""
        self.awaiting = self.out = self.asked = self.hold = None

    def lost(self, proto: OutboundProtocol) -> bool:
        """The caller hung up (or the socket closed) during the request: the call ends
        now, the answer is dropped. False: no request in flight, or the call is up."""
        if self.awaiting is None or (proto.gone is None and not proto.closed):
            return False
        self.dropped()
        return True

    def answered(
        self, result: HttpResult, proto: OutboundProtocol, wait: CallWait, now: float, reply: float
    ) -> bytes | None:
        """The answer came: None, the step reads it now; or the hold prompt is still
        playing, and must stop before the step reads the answer (kept as ``answer``
        meanwhile): the ``api uuid_break`` to write, its answer and the prompt's end
        waited for (:data:`~.phases.Then.ANSWER`)."""
        hold = self.hold
        self.dropped()
        if hold is None or hold.done:
            return None
        self.answer = result
        data = commands.api(f"uuid_break {proto.uuid}")
        wait.then = Then.ANSWER
        wait.on([proto.command(data), hold], now, reply, reply)
        return data

    def take_answer(self, wait: CallWait) -> HttpResult | None:
        """The hold prompt has stopped (:data:`~.phases.Then.ANSWER`): the answer that
        waited for it, which the step reads now."""
        wait.then = Then.RESUME
        answer, self.answer = self.answer, None
        return answer

    def waited(
        self, now: float, proto: OutboundProtocol, run: Any, before: Callable[[Any, Execute], None] | None
    ) -> tuple[bytes, float] | HttpResult:
        """A deadline passed with the request in flight: the hold prompt's playback to
        write (b"": nothing yet) and the next deadline; or the request has timed out: the
        result the step reads."""
        if self.hold_at is not None and now >= self.hold_at:
            self.hold_at = None
            assert self.asked is not None and self.asked.hold is not None  # hold_at is set only for these
            play = self.asked.hold.play
            data, self.hold = proto.execute("playback", play)
            if before is not None:
                before(run, Execute("playback", play))
            run.executed.append(("playback", play))
            return data, self.deadline
        if now >= self.deadline:
            return HttpResult.failed(HttpFailure.TIMEOUT, "the request was never answered")
        return b"", self.deadline
