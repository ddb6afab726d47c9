"""An ``http`` step's request performed in the server's own process, a greenlet each: for a
server built without its HTTP worker (tests, embedding). The same interface as
:class:`~.supervisor.HttpSupervisor` (:class:`Performer`), and the same answers: each read
in its greenlet as the worker reads it (:func:`~flowengine.flows.steps.http_answer.read_answer`:
the values saved, the body cut to what ``${http_body}`` holds) before the call has it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import gevent

from ..flows.effects import HttpFailure, HttpRequest, HttpResult
from ..flows.steps.http_answer import read_answer
from .client import HttpClient

log = logging.getLogger("flowengine.server")

#: what a request's answer is handed to (the call that waits on it)
Answer = Callable[[HttpResult], None]


class Performer(Protocol):
    """What performs a server's requests: the answer to each comes to ``on_answer``."""

    def submit(self, request: HttpRequest, call: str, on_answer: Answer) -> Any: ...

    def cancel(self, ticket: Any) -> None: ...

    def close(self) -> None: ...


def performer(http: Any) -> Performer | None:
    """``http`` as a :class:`Performer`: a bare :class:`HttpClient` in greenlets."""
    return InProcessHttp(http) if isinstance(http, HttpClient) else http


class InProcessHttp:
    """The same interface over an in-process :class:`HttpClient`: a greenlet per request,
    the answer handed to the call from it."""

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def submit(self, request: HttpRequest, call: str, on_answer: Answer) -> gevent.Greenlet:
        return gevent.spawn(self._perform, request, call, on_answer)

    def _perform(self, request: HttpRequest, call: str, on_answer: Answer) -> None:
        try:
            result = read_answer(request, self.client.perform(request, call))
        except Exception as exc:  # a bug in the client must end only this step, as an error
            log.exception("call %s: HTTP request failed", call)
            result = HttpResult.failed(HttpFailure.ERROR, f"internal error {type(exc).__name__}")
        on_answer(result)

    def cancel(self, greenlet: gevent.Greenlet) -> None:
        greenlet.kill(block=False)

    def close(self) -> None:
        self.client.close()
