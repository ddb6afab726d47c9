"""The ``http`` steps of a server process, performed by its HTTP worker process.

Each server process starts one child, ``python -m flowengine.http.worker``; the call loop
only writes request frames and reads answer frames over a socketpair, with raw loop watchers
(no greenlet), and hands the answers to their calls a few per turn (:mod:`.paced`). A dead
worker is restarted, a hung-up caller's request cancelled. :class:`~.inprocess.InProcessHttp`
is the same interface over an in-process client; the server passes in its ``metrics``, and
nothing here imports the server. Why, and what happens when the worker dies: docs/http.md,
"The engine: the HTTP worker".
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import gevent

from ..flows.effects import HttpFailure, HttpRequest, HttpResult
from . import frames
from .client import HttpLimits, RequestMetrics, report
from .inprocess import Answer
from .link import Link, RequestTicket, child_env
from .paced import PER_ITERATION, Paced

log = logging.getLogger("flowengine.server")

_RECV = 262144
#: while it has work, the worker is asked every PING_EVERY s whether its loop still turns;
#: one that has not answered in PING_TIMEOUT s (stopped, spinning, deadlocked) is killed
PING_EVERY, PING_TIMEOUT = 2.0, 10.0
#: requests written and not yet read by the worker past which new ones fail at once
MAX_UNSENT = 16 * 1024 * 1024
#: a worker that ran this long before it stopped is started again at once
_STABLE = 10.0
_BACKOFF_MIN, _BACKOFF_MAX = 0.25, 5.0
#: what a frame may hold besides its body; unread answers past twice a whole frame pause
#: the reading from the worker until they are handed out (a whole frame: this and the
#: answer's body, at most ``max_answer``)
_OVERHEAD = frames.PREFIX.size + frames.MAX_HEADER


class WorkerMetrics(RequestMetrics, Protocol):
    """What counts the requests and the worker's restarts: the server's metrics, passed in."""

    http_worker_restarts: Any  # a counter: ``inc()``


class HttpSupervisor:
    """The server's HTTP client, over a worker process: :meth:`start` on the server's
    loop, :meth:`submit` a call's request (its answer comes to ``on_answer`` in a later
    turn of the loop), :meth:`cancel` it, :meth:`close` at shutdown. ``command(fd)`` gives
    the worker's command line (tests start a broken one); ``max_answer``: the largest
    answer body taken (a worker's are at most :data:`~flowengine.http.frames.MAX_ANSWER_BODY`),
    a larger one fails its request."""

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
        self.ping_every, self.ping_timeout = ping_every, ping_timeout
        self.max_answer = max_answer
        self.limits = limits
        self.ca_file = ca_file
        self.metrics = metrics
        self.log_options = (log_level, log_format, log_tag)
        self.per_iteration = per_iteration
        self.command = command or self._command
        self.loop: Any = None
        self._links: list[Link] = []  # the live one last; before it, stopped ones still draining
        self._live: Link | None = None
        self._ready: deque[tuple[RequestTicket, HttpResult]] = deque()
        self._paced: Paced | None = None
        self._ids = 0
        self._in_flight = 0
        self._backoff = 0.0
        self._restart: Any = None
        self._closed = False
        self._dormant = False  # not started yet: no flow has asked for a request
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._live.proc.pid if self._live is not None else None

    # -- starting and stopping the worker -----------------------------------------------
    def start(self, loop: Any, *, needed: bool = True) -> None:
        """On the server's loop. ``needed``: the flows have an ``http`` step, so the worker
        starts now (ready ~0.4 s later); otherwise at the first request (a reload may add
        one), and a server whose flows make no request holds no worker (~40 MB)."""
        self.loop = loop
        self._paced = Paced(loop, self._take, self.per_iteration)
        self._dormant = not needed
        if needed:
            self._spawn()

    def _command(self, fd: int) -> list[str]:
        level, fmt, tag = self.log_options
        argv = [
            sys.executable,
            "-m",
            "flowengine.http.worker",
            "--fd",
            str(fd),
            "--max-requests",
            str(self.limits.total),
            "--max-per-host",
            str(self.limits.per_host),
            "--max-body",
            str(self.limits.max_body),
            "--log-level",
            level,
            "--log-format",
            fmt,
            "--log-tag",
            f"{tag}http ",
        ]
        return argv + (["--ca", self.ca_file] if self.ca_file else [])

    def _spawn(self) -> None:
        """Start a worker. Popen's fork and exec hold the loop ~1–8 ms (measured): at start,
        at the first request of a server that needed none, and at each restart."""
        self._restart = None
        if self._closed:
            return
        env = child_env()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            proc = subprocess.Popen(
                self.command(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                close_fds=True,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except OSError as exc:
            mine.close()
            log.error("cannot start the HTTP worker: %s", exc)
            self._backoff = min(_BACKOFF_MAX, max(_BACKOFF_MIN, self._backoff * 2))
            self._later()
            return
        finally:
            theirs.close()
        mine.setblocking(False)
        link = Link(self.loop, proc, mine, self.max_answer)
        link.reader = self.loop.io(mine.fileno(), 1)
        link.reader.start(partial(self._readable, link))
        link.watchdog = self.loop.timer(self.ping_every, self.ping_every, ref=False)  # keeps no loop alive
        link.watchdog.start(partial(self._watch, link))
        self._links.append(link)
        self._live = link
        log.info("HTTP worker started (pid %d)", proc.pid)

    def _watch(self, link: Link) -> None:
        """Ping a worker with work; kill one whose last ping went unanswered too long (a
        worker that is alive but stuck would otherwise hold every request to its timeout,
        and the requests written to it would pile up here)."""
        if link.eof:
            return
        if not link.pending and not link.out:
            link.pinged = None
            return
        now = time.monotonic()
        if link.pinged is None:
            link.pinged = now
            link.send(frames.ping_frame(0))
        elif now - link.pinged > self.ping_timeout:
            link.proc.kill()
            self._stopped(link, f"it stopped answering (no pong in {self.ping_timeout:g} s)")

    def _stopped(self, link: Link, why: str) -> None:
        """The worker is gone (EOF, a broken frame): what it wrote is still handed out, then
        the requests left end as errors; another worker is started."""
        if link.eof:
            return
        link.eof = True
        link.stop_watching()
        link.out = bytearray()
        code = link.proc.poll()
        if code is None:
            link.proc.kill()  # closed its end or broke the format: it is no worker any more
        try:
            link.sock.close()
        except OSError:
            pass
        if self._live is link:
            self._live = None
        if self._closed:
            return
        self.restarts += 1
        if self.metrics is not None:
            self.metrics.http_worker_restarts.inc()
        lived = time.monotonic() - link.started
        self._backoff = 0.0 if lived >= _STABLE else min(_BACKOFF_MAX, max(_BACKOFF_MIN, self._backoff * 2))
        log.error(
            "the HTTP worker (pid %d) stopped (%s) after %.1f s; %d request(s) in flight end as errors; "
            "starting another %s",
            link.proc.pid,
            why if code is None else f"{why}, exit code {code}",
            lived,
            len(link.pending),
            "now" if not self._backoff else f"in {self._backoff:g} s",
        )
        self._reap(link.proc)
        if self._backoff:
            self._later()
        else:
            self._spawn()
        self._wake()

    def _wake(self) -> None:
        """Have :class:`Paced` hand out what is ready, in a later turn of the loop."""
        assert self._paced is not None, "HttpSupervisor.start() makes it"  # every caller runs after start()
        self._paced.wake()

    def _later(self) -> None:
        if self._restart is None and not self._closed:
            self._restart = self.loop.timer(self._backoff)
            self._restart.start(self._spawn)

    def _reap(self, proc: subprocess.Popen) -> None:
        """Wait for the process without blocking the loop (no zombie left)."""
        if proc.poll() is None:
            timer = self.loop.timer(0.2)
            timer.start(partial(self._reap, proc))

    def close(self) -> None:
        """Shutdown: the worker sees EOF and exits (killed if it has not within 2 s)."""
        self._closed = True
        if self._restart is not None:
            self._restart.stop()
        if self._paced is not None:
            self._paced.stop()
        links, self._links, self._live = self._links, [], None
        for link in links:
            link.stop_watching()
            try:
                link.sock.close()
            except OSError:
                pass
        deadline = time.monotonic() + 2.0
        for link in links:
            while link.proc.poll() is None and time.monotonic() < deadline:
                gevent.sleep(0.02)
            if link.proc.poll() is None:
                link.proc.kill()
                link.proc.wait(1)

    # -- requests ------------------------------------------------------------------------
    def submit(self, request: HttpRequest, call: str, on_answer: Answer) -> RequestTicket:
        """Hand ``request`` to the worker; its answer comes to ``on_answer`` in a later turn
        of the loop (a request that cannot go fails so, at once, on its own)."""
        self._ids += 1
        ticket = RequestTicket(self._ids, request, call, on_answer)
        if self._dormant and not self._closed:  # the first request: the frame waits in the socket
            self._dormant = False
            self._spawn()
        link = self._live
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
    def _readable(self, link: Link) -> None:
        try:
            data = link.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._stopped(link, f"its socket failed: {exc}")
            return
        if not data:
            self._stopped(link, "its socket closed")
            return
        link.frames.feed(data)
        if link.frames.held > 2 * (self.max_answer + _OVERHEAD):  # read on once these are handed out
            link.paused = True
            link.reader.stop()
        self._wake()

    def _take(self) -> Callable[[], None] | None:
        """The next answer to hand out (for :class:`Paced`): failures first, then the
        oldest link's frames; a stopped link's requests left fail once its frames are out."""
        while True:
            if self._ready:
                ticket, result = self._ready.popleft()
                return partial(self._deliver, ticket, result)
            if not self._links:
                return None
            link = self._links[0]
            try:
                frame = link.frames.next()
            except frames.Malformed as exc:
                self._broken(link, str(exc))
                continue
            if frame is None:
                if link.eof:
                    self._links.pop(0)
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
                    continue
                if link.paused:
                    link.paused = False
                    link.reader.start(partial(self._readable, link))
                return None
            header, body, length = frame
            try:
                if header.get("t") == frames.Kind.READY:
                    log.info(
                        "HTTP worker ready (pid %d, %.0f ms after it was started)",
                        link.proc.pid,
                        (time.monotonic() - link.started) * 1000,
                    )
                    continue
                if header.get("t") == frames.Kind.PONG:
                    link.pinged = None
                    continue
                if header.get("t") != frames.Kind.ANSWER:
                    raise frames.Malformed(f"a frame of kind {header.get('t')!r}")
                ident = frames.ident(header)
                if body is None:
                    result = HttpResult.failed(
                        HttpFailure.ERROR, f"an answer of {length} bytes, more than {self.max_answer}"
                    )
                else:
                    result = frames.answer(header, body)
            except frames.Malformed as exc:  # its request, still pending, fails with the others
                self._broken(link, str(exc))
                continue
            answered = link.pending.pop(ident, None)
            if answered is None:
                continue  # cancelled meanwhile
            self._in_flight -= 1
            return partial(self._deliver, answered, result)

    def _broken(self, link: Link, why: str) -> None:
        link.frames = frames.Reader(0)  # nothing more is read from it
        self._stopped(link, f"it sent a malformed frame: {why}")

    def _deliver(self, ticket: RequestTicket, result: HttpResult) -> None:
        if ticket.cancelled:
            return
        report(ticket.request, ticket.call, result, self.metrics)
        on_answer, ticket.on_answer = ticket.on_answer, _nothing
        on_answer(result)


def _nothing(result: HttpResult) -> None:
    pass
