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

from ..esl import OutboundProtocol, Ticket
from ..flows.effects import Execute, HttpRequest, HttpResult

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

    def ask(self, now: float) -> float:
        """Hand the queued request to the driver (and start no prompt yet): the call's
        next deadline, the hold prompt's start or the request's timeout."""
        request, self.queued = self.queued, None
        assert request is not None
        self.tokens += 1
        self.awaiting = self.tokens
        self.out = (self.tokens, request)
        self.asked = request
        self.deadline = now + request.timeout + HTTP_GRACE
        self.hold_at = now + request.hold.after if request.hold is not None else None
        return self.deadline if self.hold_at is None else min(self.deadline, self.hold_at)

    def dropped(self) -> None:
        """The call no longer waits for the request in flight: its answer is ignored."""
        self.awaiting = self.out = self.asked = self.hold = None

    def answered(self, result: HttpResult) -> Ticket | None:
        """The answer came: the hold prompt still playing, which must stop before the step
        reads the answer (kept as ``answer`` meanwhile), or None: read it now."""
        hold = self.hold
        self.dropped()
        if hold is not None and not hold.done:
            self.answer = result
            return hold
        return None

    def take_answer(self) -> HttpResult | None:
        """The answer that waited for the hold prompt to stop."""
        answer, self.answer = self.answer, None
        return answer

    def waited(
        self, now: float, proto: OutboundProtocol, run: Any, before: Callable[[Any, Execute], None] | None
    ) -> tuple[bytes, float] | None:
        """A deadline passed with the request in flight: the hold prompt's playback to
        write (b"": nothing yet) and the next deadline; None: the request has timed out."""
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
            return None
        return b"", self.deadline
