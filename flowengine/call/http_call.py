"""What a flow call adds to its connection for the ``http`` step's requests: the driver's
side of them (``take_request``, ``http_done``, ``awaiting``, ``http_out``) and how a wait
for one ends (its answer, its deadline, the call lost while it is out).

:class:`HttpCall` sits between :class:`~.connection.CallConnection` (the phases) and
:class:`~.flow_call.FlowCall` (routing, the run's writes): the request itself is the
:class:`~.http_wait.PendingRequest` the call owns from its first request on; what the run
does with an answer is the flow call's (:meth:`HttpCall._send`, :meth:`HttpCall._gone`).
"""

from __future__ import annotations

from ..flows.effects import Effect, HttpRequest, HttpResult
from ..runtime.interpreter import FlowRun
from .connection import FLOW, CallConnection
from .http_wait import PendingRequest
from .settings import CallSettings


class HttpCall(CallConnection):
    """A connection whose run may wait on an HTTP request the driver performs."""

    __slots__ = ("run", "_http")

    def __init__(self, settings: CallSettings, peer: str) -> None:
        super().__init__(settings, peer)
        self.run: FlowRun | None = None
        self._http: PendingRequest | None = None  # from the call's first HTTP request on

    # -- what the driver calls ------------------------------------------------------------
    @property
    def awaiting(self) -> int | None:
        """The token of the HTTP request in flight (None: none)."""
        return self._http.awaiting if self._http is not None else None

    @property
    def http_out(self) -> tuple[int, HttpRequest] | None:
        """The HTTP request due to be performed, not yet taken (:meth:`take_request`)."""
        return self._http.out if self._http is not None else None

    def take_request(self) -> tuple[int, HttpRequest] | None:
        """The HTTP request the driver must perform now, once (None: none is due)."""
        return self._http.take() if self._http is not None else None

    def http_done(self, token: int, result: HttpResult, now: float) -> bytes:
        """The answer to request ``token``; ignored when the call no longer waits for it."""
        http = self._http
        if http is None or token != http.awaiting or self.phase is not FLOW:
            return b""
        held = http.answered(result, self.proto, self._wait, now, self.settings.timeouts.reply)  # by the hold prompt
        if held is not None:
            return held
        assert self.run is not None  # a request in flight is the run's
        return self._send(self.run.resume(result), now)

    # -- a wait for a request ---------------------------------------------------------------
    def _unanswered(self, now: float) -> bytes:
        if self._http is None or not self._http.lost(self.proto):
            return b""
        gone = self.proto.gone
        return self._gone(gone.cause if gone is not None else "connection closed", now)

    def _expired(self, now: float) -> bytes:
        http = self._http
        if http is None or http.awaiting is None:
            return super()._expired(now)
        waited = http.waited(now, self.proto, self.run, self.settings.before)  # the hold prompt, or the timeout
        if isinstance(waited, HttpResult):
            return self.http_done(http.awaiting, waited, now)
        data, self._wait.deadline = waited
        return data

    # -- what the run does (the flow call's) ---------------------------------------------------
    def _send(self, command: Effect | None, now: float) -> bytes:
        """The run's next command(s) written: an answer resumes the run with it."""
        raise NotImplementedError

    def _gone(self, cause: str, now: float) -> bytes:
        """The caller hung up (or the socket closed) while a request was out."""
        raise NotImplementedError
