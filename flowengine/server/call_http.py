"""The ``http`` request a flow call on the event loop waits on, and what performs it.

A call has at most one request in flight (its ``http`` step waits on it); when the call no
longer waits (the caller left, the call closed) the request is cancelled, so its answer is
never handed to it. The performer is the server's (its HTTP worker, :mod:`flowengine.http`),
or an in-process client made at the first request of a call whose server gave none.
"""

from __future__ import annotations

from typing import Any

from ..flows.effects import HttpRequest
from ..http.inprocess import Answer, InProcessHttp, performer

_DEFAULT_CLIENT: Any = None


def default_client() -> Any:
    """The process's HTTP client, for calls whose server gave none: in process."""
    global _DEFAULT_CLIENT
    if _DEFAULT_CLIENT is None:
        from ..http import HttpClient

        _DEFAULT_CLIENT = InProcessHttp(HttpClient())
    return _DEFAULT_CLIENT


class CallRequest:
    """The request in flight (:attr:`current`: its token and what ``http.cancel`` takes)
    and ``http``: a Performer (:mod:`flowengine.http.inprocess`: an HttpSupervisor or
    InProcessHttp), a bare HttpClient, or None (made at the first request)."""

    # one per call, thousands at once
    __slots__ = ("http", "current")

    def __init__(self, http: Any) -> None:
        self.http = http
        self.current: tuple[int, Any] | None = None

    def perform(self, token: int, request: HttpRequest, call: str, on_answer: Answer) -> None:
        """Hand ``request`` (the call's wait ``token``) to the performer; its answer comes
        to ``on_answer``."""
        http = self.http
        if http is None:
            http = self.http = default_client()
        else:  # a bare HttpClient (flowengine.http) performs in greenlets
            http = self.http = performer(http)
        self.current = (token, http.submit(request, call, on_answer))

    def answered(self, token: int) -> None:
        """The answer to ``token`` came: nothing is in flight for it any more."""
        if self.current is not None and self.current[0] == token:
            self.current = None

    def stale(self, awaiting: int | None) -> bool:
        """A request is in flight that the call (waiting on ``awaiting``) no longer waits for."""
        return self.current is not None and awaiting != self.current[0]

    def drop(self) -> None:
        """Cancel the request in flight, if any: its answer is never handed out."""
        current, self.current = self.current, None
        if current is not None:
            self.http.cancel(current[1])
