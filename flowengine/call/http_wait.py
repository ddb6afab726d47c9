"""A flow call waiting on its step's HTTP request: the part of :class:`~.flow_call.FlowCall`
the driver performs requests through.

``call.take_request()`` gives ``(token, request)`` when one is due and
``call.http_done(token, result, now)`` hands back its result; a hold prompt still playing is
stopped with ``api uuid_break`` (docs/architecture.md, "A call without I/O").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..esl import commands
from ..flows.effects import Execute, HttpFailure, HttpRequest, HttpResult
from .lifecycle import Phase

if TYPE_CHECKING:
    from .flow_call import FlowCall

#: how long past a request's own timeout the call waits for its driver to answer
HTTP_GRACE = 1.0


class HttpWait:
    """FlowCall's methods for a request in flight (its state is FlowCall's own slots)."""

    __slots__ = ()

    def take_request(self: FlowCall) -> tuple[int, HttpRequest] | None:
        """The HTTP request the driver must perform now, once (None: none is due)."""
        out, self.http_out = self.http_out, None
        return out

    def http_done(self: FlowCall, token: int, result: HttpResult, now: float) -> bytes:
        """The answer to request ``token``; ignored when the call no longer waits for it."""
        if token != self.awaiting or self.phase != Phase.FLOW:
            return b""
        self.awaiting = self.http_out = self._asked = None
        hold, self._hold = self._hold, None
        if hold is not None and not hold.done:
            data = commands.api(f"uuid_break {self.proto.uuid}")
            self._answer = result
            self._then = "answer"
            self._wait([self.proto.command(data), hold], now, self.timeouts.reply)
            return data
        return self._send(self.run.resume(result), now)  # type: ignore[union-attr]

    def _ask(self: FlowCall, now: float) -> bytes:
        """Hand the run's request to the driver and wait for it (and start no prompt yet)."""
        request, self._request = self._request, None
        self._tokens += 1
        self.awaiting = self._tokens
        self.http_out = (self._tokens, request)  # type: ignore[assignment]
        self._asked = request
        self._waiting = []
        self._then = "resume"
        self._http_deadline = now + request.timeout + HTTP_GRACE  # type: ignore[union-attr]
        self._hold_at = now + request.hold.after if request.hold is not None else None  # type: ignore[union-attr]
        self.deadline = min(self._http_deadline, self._hold_at if self._hold_at is not None else self._http_deadline)
        return b""

    def _http_waited(self: FlowCall, now: float) -> bytes:
        """A deadline while the request is in flight: start the hold prompt, or give up."""
        if self._hold_at is not None and now >= self._hold_at:
            self._hold_at = None
            self.deadline = self._http_deadline
            data, self._hold = self.proto.execute("playback", self._asked.hold.play)  # type: ignore[union-attr]
            if self.before is not None:
                self.before(self.run, Execute("playback", self._asked.hold.play))  # type: ignore[union-attr, arg-type]
            self.run.executed.append(("playback", self._asked.hold.play))  # type: ignore[union-attr]
            return data
        if now >= self._http_deadline:
            token = self.awaiting
            return self.http_done(token, HttpResult.failed(HttpFailure.TIMEOUT, "the request was never answered"),
                                  now)  # type: ignore[arg-type]
        self.deadline = self._http_deadline
        return b""
