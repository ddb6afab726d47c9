"""The ``http`` steps of a server process, performed by its HTTP worker process.

Each server process starts one child, ``python -m flowengine.http.worker``; the call loop
only writes request frames and reads answer frames over a socketpair, with raw loop watchers
(no greenlet), and hands the answers to their calls a few per turn (:mod:`.paced`). A dead
worker is restarted (:mod:`.processes`), a hung-up caller's request cancelled.
:class:`~.inprocess.InProcessHttp` is the same interface over an in-process client; the server
passes in its ``metrics``, and nothing here imports the server. Why, and what happens when the
worker dies: docs/http.md, "The engine: the HTTP worker".
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from ..flows.effects import HttpFailure, HttpRequest, HttpResult
from . import frames
from .client import HttpLimits, RequestMetrics, report
from .inprocess import Answer
from .link import Link, RequestTicket
from .paced import PER_ITERATION, Paced
from .processes import PING_EVERY, PING_TIMEOUT, WorkerProcesses, worker_command

#: requests written and not yet read by the worker past which new ones fail at once
MAX_UNSENT = 16 * 1024 * 1024


class WorkerMetrics(RequestMetrics, Protocol):
    """What counts the requests and the worker's restarts: the server's metrics, passed in."""

    http_worker_restarts: Any  # a counter: ``inc()``


class HttpSupervisor:
    """The server's HTTP client, over a worker process: :meth:`start` on the server's
    loop, :meth:`submit` a call's request (its answer comes to ``on_answer`` in a later
    turn of the loop), :meth:`cancel` it, :meth:`close` at shutdown. ``command(fd)`` gives
    the worker's command line (tests start a broken one); ``max_answer``: the largest
    answer body taken (a worker's are at most :data:`~flowengine.http.frames.MAX_ANSWER_BODY`),
    a larger one fails its request. The processes are :attr:`processes`' (:mod:`.processes`);
    here, the requests in flight and their answers."""

    def __init__(
        self,
        limits: HttpLimits = HttpLimits(),
        *,
        ca_file: str | None = None,
        metrics: WorkerMetrics | None = None,
        log_level: str = "info",
        log_format: str = "text",
        log_tag: str = "",
        per_iteration: int = PER_ITERATION,
        command: Callable[[int], list[str]] | None = None,
        ping_every: float = PING_EVERY,
        ping_timeout: float = PING_TIMEOUT,
        max_answer: int = frames.MAX_ANSWER_BODY,
    ) -> None:
        self.max_answer = max_answer
        self.limits = limits
        self.metrics = metrics
        self.per_iteration = per_iteration
        command = command or partial(worker_command, limits, ca_file, (log_level, log_format, log_tag))
        self.processes = WorkerProcesses(
            command,
            self._wake,
            metrics=metrics,
            ping_every=ping_every,
            ping_timeout=ping_timeout,
            max_answer=max_answer,
        )
        self._ready: deque[tuple[RequestTicket, HttpResult]] = deque()
        self._paced: Paced | None = None
        self._ids = 0
        self._in_flight = 0
        self._dormant = False  # not started yet: no flow has asked for a request

    @property
    def pid(self) -> int | None:
        live = self.processes.live
        return live.proc.pid if live is not None else None

    @property
    def restarts(self) -> int:
        """How many times a worker stopped and another was started."""
        return self.processes.restarts

    @property
    def _live(self) -> Link | None:
        """The live worker's link; None while another is being started."""
        return self.processes.live

    def start(self, loop: Any, *, needed: bool = True) -> None:
        """On the server's loop. ``needed``: the flows have an ``http`` step, so the worker
        starts now (ready ~0.4 s later); otherwise at the first request (a reload may add
        one), and a server whose flows make no request holds no worker (~40 MB)."""
        self.processes.loop = loop
        self._paced = Paced(loop, self._take, self.per_iteration)
        self._dormant = not needed
        if needed:
            self.processes.spawn()

    def close(self) -> None:
        """Shutdown: the worker sees EOF and exits (killed if it has not within 2 s)."""
        if self._paced is not None:
            self._paced.stop()
        self.processes.close()

    def _wake(self) -> None:
        """Have :class:`Paced` hand out what is ready, in a later turn of the loop."""
        assert self._paced is not None, "HttpSupervisor.start() makes it"  # every caller runs after start()
        self._paced.wake()

    # -- requests ------------------------------------------------------------------------
    def submit(self, request: HttpRequest, call: str, on_answer: Answer) -> RequestTicket:
        """Hand ``request`` to the worker; its answer comes to ``on_answer`` in a later turn
        of the loop (a request that cannot go fails so, at once, on its own)."""
        self._ids += 1
        ticket = RequestTicket(self._ids, request, call, on_answer)
        if self._dormant and not self.processes.closed:  # the first request: the frame waits in the socket
            self._dormant = False
            self.processes.spawn()
        link = self.processes.live
        failure = None
        if link is None:
            failure = "the HTTP worker is not running (it is being started again)"
        elif self._in_flight >= self.limits.total:
            failure = f"{self._in_flight} requests in flight, the most allowed"
        elif request.body is not None and len(request.body) > frames.MAX_REQUEST_BODY:
            failure = f"a request body of {len(request.body)} bytes, more than {frames.MAX_REQUEST_BODY}"
        elif len(link.out) > MAX_UNSENT:
            failure = f"the HTTP worker has not read the last {len(link.out)} bytes of requests"
        frame = b""
        if failure is None:
            try:
                frame = frames.request_frame(ticket.ident, call, request)
            except frames.TooLarge as exc:
                failure = f"the request's URL and headers are too large ({exc})"
        if failure is not None:
            self._ready.append((ticket, HttpResult.failed(HttpFailure.ERROR, failure)))
            self._wake()
            return ticket
        assert link is not None  # no link is a failure above
        ticket.link = link
        link.pending[ticket.ident] = ticket
        self._in_flight += 1
        link.send(frame)
        return ticket

    def cancel(self, ticket: RequestTicket) -> None:
        """The call no longer waits: its answer is never handed out; the worker drops it."""
        ticket.cancelled = True
        link = ticket.link
        if link is not None and link.pending.pop(ticket.ident, None) is not None:
            self._in_flight -= 1
            if not link.eof:
                link.send(frames.cancel_frame(ticket.ident))
        ticket.on_answer = _nothing  # the call is let go of at once

    # -- answers ---------------------------------------------------------------------------
    def _take(self) -> Callable[[], None] | None:
        """The next answer to hand out (for :class:`Paced`): failures first, then the
        oldest link's frames; a stopped link's requests left fail once its frames are out."""
        links = self.processes.links
        while True:
            if self._ready:
                ticket, result = self._ready.popleft()
                return partial(self._deliver, ticket, result)
            if not links:
                return None
            link = links[0]
            try:
                frame = link.frames.next()
            except frames.Malformed as exc:
                self.processes.broken(link, str(exc))
                continue
            if frame is None:
                if link.eof:
                    links.pop(0)
                    self._fail_pending(link)
                    continue
                self.processes.read_on(link)
                return None
            try:
                answered = self._answer(link, *frame)
            except frames.Malformed as exc:  # its request, still pending, fails with the others
                self.processes.broken(link, str(exc))
                continue
            if answered is not None:
                return partial(self._deliver, *answered)

    def _answer(
        self, link: Link, header: dict, body: bytes | None, length: int
    ) -> tuple[RequestTicket, HttpResult] | None:
        """The request a frame answers and its result; None for a frame of the process
        itself or the answer to a request cancelled meanwhile."""
        kind = header.get("t")
        if self.processes.heard(link, kind):
            return None
        if kind != frames.Kind.ANSWER:
            raise frames.Malformed(f"a frame of kind {kind!r}")
        ident = frames.ident(header)
        if body is None:
            result = HttpResult.failed(HttpFailure.ERROR, f"an answer of {length} bytes, more than {self.max_answer}")
        else:
            result = frames.answer(header, body)
        answered = link.pending.pop(ident, None)
        if answered is None:
            return None  # cancelled meanwhile
        self._in_flight -= 1
        return answered, result

    def _fail_pending(self, link: Link) -> None:
        """A stopped link's frames are all out: the requests it still had end as errors."""
        self._in_flight -= len(link.pending)
        now = time.monotonic()
        self._ready.extend(
            (
                ticket,
                HttpResult.failed(
                    HttpFailure.ERROR, "the HTTP worker stopped during the request", now - ticket.submitted
                ),
            )
            for ticket in link.pending.values()
        )
        link.pending.clear()

    def _deliver(self, ticket: RequestTicket, result: HttpResult) -> None:
        if ticket.cancelled:
            return
        report(ticket.request, ticket.call, result, self.metrics)
        on_answer, ticket.on_answer = ticket.on_answer, _nothing
        on_answer(result)


def _nothing(result: HttpResult) -> None:
    pass
