"""What a step asks of the call: the effects (run an application, let the call go, ask an
HTTP server) the interpreter hands to its driver."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Execute:
    """Run a FreeSWITCH application and resume with its CHANNEL_EXECUTE_COMPLETE.

    ``wait=False`` is for set-up applications that complete at once (``set``): the step is
    resumed with None and the driver sends the application together with the next one,
    which FreeSWITCH runs after it (event-lock), saving a round trip per set-up.
    A driver that can set ``variable`` by api instead sends no application for it at all
    (:func:`flowengine.call.batching.collect`).
    """

    app: str
    arg: str | None = None
    timeout: float | None = None
    wait: bool = True
    note: str | None = None  # for people watching (run.py simulate): "attempt 2 of 3"; never sent
    #: for ``set``: the variable's name and (unencoded) value, so that a driver may set it
    #: without running the application (:mod:`flowengine.quoting.api`)
    variable: tuple[str, str] | None = None


@dataclass(frozen=True)
class Exit:
    """Stop controlling the call (it was handed to the dialplan)."""

    reason: str = "transfer"


@dataclass(frozen=True)
class Goto:
    """A step's result that names the next step itself (when, goto); ``edge`` says which
    of its branches it took (``when[0]``, ``else``, ``goto``, ``exceeded``)."""

    step: str
    edge: str = "goto"


@dataclass(frozen=True)
class HoldPrompt:
    """What the caller hears while a slow HTTP request is in flight: ``play`` (a playback
    argument, encoded like any other) once the request has taken ``after`` seconds."""

    after: float
    play: str


@dataclass(frozen=True)
class HttpRequest:
    """Ask an HTTP server and resume with an :class:`HttpResult`.

    The driver performs it (the server with its pooled client, a flow test from the
    case's scripted answers, ``run.py simulate`` from the person at the terminal); the
    interpreter does no I/O. ``url`` is already encoded (:mod:`flowengine.quoting.url`);
    ``secrets`` are the ``${env.NAME}`` values it holds, which nothing may show
    (:meth:`masked`). ``flow``/``step`` name it in logs and metrics."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    timeout: float = 5.0
    retries: int = 0
    hold: HoldPrompt | None = None
    secrets: tuple[str, ...] = ()
    flow: str = "-"
    step: str = "-"

    def __repr__(self) -> str:
        """What a traceback or a greenlet's error report may print: never a secret, a
        header or the query's values."""
        return f"<HttpRequest {self.shown} flow={self.flow} step={self.step}>"

    def masked(self, text: str) -> str:
        """``text`` with every secret of this request replaced by ``***``."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    @property
    def host(self) -> str:
        """``host[:port]`` of the URL (the author's, never the call's)."""
        rest = self.url.split("://", 1)[-1]
        for stop in "/?#":
            rest = rest.split(stop, 1)[0]
        return self.masked(rest.rsplit("@", 1)[-1])

    @property
    def shown(self) -> str:
        """``METHOD scheme://host/path?name=…``: what logs and the simulator show (the
        query's values and every secret left out)."""
        return f"{self.method} {self.masked(shown_url(self.url))}"


def shown_url(url: str) -> str:
    """The URL without its query's values (``?phone=…``) or fragment: what a log may hold."""
    base, _, query = url.partition("?")
    base = base.split("#", 1)[0]
    if not query:
        return base
    names = [part.split("=", 1)[0] for part in query.split("#", 1)[0].split("&") if part]
    return base + "?" + "&".join(f"{name}=…" for name in names)


class HttpFailure(StrEnum):
    """Why there is no HTTP status to read: the step's ``timeout`` and ``error`` outcomes."""

    TIMEOUT = "timeout"  # the whole request took longer than its timeout
    ERROR = "error"  # refused, DNS, TLS, reset, over the size cap, too many in flight, circuit open


@dataclass(frozen=True)
class HttpResult:
    """What came back: a ``status`` with its ``body`` (at most the size cap), or a
    ``failure`` with its ``reason`` (for logs; never holds a secret)."""

    status: int | None = None
    body: bytes = b""
    content_type: str = ""
    failure: HttpFailure | None = None
    reason: str = ""
    seconds: float = 0.0

    @classmethod
    def failed(cls, failure: HttpFailure, reason: str, seconds: float = 0.0) -> HttpResult:
        return cls(failure=failure, reason=reason, seconds=seconds)

    @property
    def summary(self) -> str:
        """``200`` or ``timeout`` / ``error``: what a log line and a metric say."""
        return str(self.status) if self.failure is None else self.failure.value


Effect = Execute | Exit | HttpRequest
"""What the interpreter hands its driver (a wire command is :class:`flowengine.replay.command_reader.Command`)."""
