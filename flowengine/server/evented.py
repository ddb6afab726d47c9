"""A flow call on the event loop: the socket's readiness and one timer drive a FlowCall.

No greenlet per call: the loop calls back when the socket is readable (or writable again) and
when the call's wait runs out, and each callback hands what happened to the call's
:class:`~flowengine.call.flow_call.FlowCall` and writes what it answers; nothing here may block
(a write the kernel cannot take at once waits: :mod:`.socket_writer`). Its one timer is
:mod:`.call_timer`'s, its HTTP request in flight :mod:`.call_http`'s. What the calls have read but not parsed is
capped by one :class:`~flowengine.esl.BufferBudget` (``SHARED_BUDGET``). Why:
docs/architecture.md, "A call on the event loop"; the budget: docs/security.md, "Nothing a peer
or a flow sends can stall or exhaust the server".
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from ..call.flow_call import FlowCall
from ..esl import BufferBudget
from ..esl.budget import server_budget
from ..flows.effects import HttpResult
from .call_http import CallRequest
from .call_timer import CallTimer
from .socket_writer import SocketWriter

log = logging.getLogger("flowengine.server")

_RECV = 65536
#: fed to a call whose parser the budget has failed: any bytes make it raise that error
_WAKE = b"\n"

#: What every EventedCall's parser may hold between them, unless told otherwise. Real
#: calls hold next to nothing between reads (an event arrives whole, or within a
#: millisecond), so this is room for a few large api/bgapi outputs or CDRs at once.
DEFAULT_BUDGET_BYTES = 64 * 1024 * 1024
SHARED_BUDGET = server_budget(DEFAULT_BUDGET_BYTES)


class EventedCall:
    """One call's socket on the loop. What its parser buffers counts against ``budget``,
    shared with the server's other calls (by default this module's ``SHARED_BUDGET``)."""

    # one per call, thousands at once
    __slots__ = (
        "loop",
        "sock",
        "call",
        "recording",
        "on_close",
        "started_at",
        "out",
        "reader",
        "timer",
        "_named",
        "_closed",
        "http",
    )

    def __init__(
        self,
        loop: Any,
        sock: socket.socket,
        call: FlowCall,
        *,
        recording: Any = None,
        on_close: Callable[[EventedCall], None] | None = None,
        budget: BufferBudget | None = None,
        http: Any = None,
    ) -> None:
        sock.setblocking(False)
        # before the first byte is read, so nothing is charged yet
        call.proto.parser.budget = SHARED_BUDGET if budget is None else budget
        call.proto.parser.on_evicted = self._evicted
        self.loop = loop
        self.sock = sock
        self.call = call
        self.recording = recording  # a CallRecording, or None
        self.on_close = on_close
        self.started_at = time.monotonic()
        self.out = SocketWriter(loop, sock)  # what the call writes
        self.timer = CallTimer(loop)
        self._named = recording is None
        self._closed = False
        self.http = CallRequest(http)  # the request in flight, and what performs it
        self.reader = loop.io(sock.fileno(), 1)
        self.reader.start(self._readable)
        self._apply(call.start, None)

    # -- what the server calls --------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def request_hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """Shutdown: ask FreeSWITCH to hang up; the flow then sees the call go."""
        if not self._closed:
            self._apply(lambda now: self.call.request_hangup(cause), None)

    def hand_over(self) -> bool:
        """Shutdown with failover: close the socket with the call up, its checkpoint on the
        channel, so the dialplan's next ``socket`` takes it to another host. False (and
        nothing done) for a call that has no checkpoint written in full."""
        if self._closed or self.backlog or not self.call.hand_over():
            return False
        self.close()
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.http.drop()
        self.timer.stop()
        self.out.stop()
        if self.reader is not None:
            self.reader.stop()
            self.reader = None  # stopped, it holds no callback
        parser = self.call.proto.parser
        parser.on_evicted = None  # it refers to this object: no cycle outlives the call
        parser.release()  # what it still buffers goes back to the budget
        try:
            self.sock.close()
        except OSError:
            pass
        if self.recording is not None:
            self.recording.close()
        if self.on_close is not None:
            self.on_close(self)

    # -- loop callbacks ---------------------------------------------------------------
    def _readable(self) -> None:
        try:
            data = self.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._apply(self.call.lost, f"socket error: {exc}")
            return
        if self.recording is not None and data:
            self.recording.inbound(data)
        self._apply(self.call.receive, data)

    def _evicted(self, error: Exception) -> None:
        """The budget ended this call to make room for another call's read (its parser
        has failed with ``error``, its bytes given back): end it once that read is done."""
        if not self._closed:
            self.loop.run_callback(self._end_evicted)

    def _end_evicted(self) -> None:
        if not self._closed:
            self._apply(self.call.receive, _WAKE)  # the parser raises its error: the call ends on it

    def _writable(self) -> None:
        failure = self.out.flush()
        if failure is not None:
            self._apply(self.call.lost, failure)

    def _expired(self) -> None:
        self.timer.fired()
        deadline = self.call.deadline
        if deadline is None or self._closed:
            return
        now = time.monotonic()
        if now < deadline:  # armed for an earlier wait (or the loop's clock ran ahead): again
            self.timer.arm(deadline, self._expired)
            return
        self._apply(self.call.expire, None, now)

    # -- the call's side ----------------------------------------------------------------
    def _apply(self, method: Callable[..., bytes], arg: Any, now: float | None = None) -> None:
        """Run one step of the call; write what it says; close or re-arm the timer."""
        call = self.call
        try:
            if now is None:
                now = time.monotonic()
            out = method(now) if arg is None else method(arg, now)
            while out:
                failure = self._write(out)
                out = call.lost(failure, time.monotonic()) if failure else b""
        except Exception:  # one call's bug must not take down the others
            log.exception("call %s from %s: internal error", call.proto.uuid or "-", call.peer)
            try:
                self._write(call.abort())
            except Exception:
                pass
        if not self._named and call.proto.channel is not None:  # the connect reply came
            self._named = True
            self.recording.named(call.proto.uuid or "unknown", call.proto.channel)
        if self.http.stale(call.awaiting):
            self.http.drop()  # the call no longer waits for it (the caller left)
        asked = call.take_request()
        if asked is not None and not call.closed:
            token, request = asked
            self.http.perform(token, request, call.proto.uuid or "-", partial(self._answered, token))
        if call.closed:
            self.close()
        elif call.deadline is not None:
            self.timer.arm(call.deadline, self._expired)

    # -- an HTTP request in flight ------------------------------------------------------
    @property
    def _request(self) -> tuple[int, Any] | None:
        """The request in flight: (token, what the performer's cancel takes)."""
        return self.http.current

    def _answered(self, token: int, result: HttpResult) -> None:
        """The answer (from the HTTP worker's answers, handed out a few per turn of the
        loop; or the request's greenlet): to the call."""
        self.http.answered(token)
        if not self._closed:
            self._apply(partial(self.call.http_done, token, result), None)

    def _write(self, data: bytes) -> str | None:
        """Write without blocking; what the kernel cannot take now waits for writability."""
        if self._closed:
            return None
        if self.recording is not None:
            self.recording.outbound(data)
        return self.out.write(data, self._writable)

    @property
    def backlog(self) -> bytes:
        """Written by the call, not yet taken by the kernel."""
        return self.out.backlog

    @property
    def writer(self) -> Any:
        """The watcher waiting for the socket to take :attr:`backlog`, if any."""
        return self.out.watcher
