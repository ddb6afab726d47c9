"""The HTTP worker's process on the server's side: started, watched, started again.

:class:`WorkerProcesses` starts the worker (:func:`worker_command`), reads what it writes into
its link's frame reader, pings it while it has work and kills one that stops answering, and
when one stops starts another (at once, or after a backoff when it keeps dying). What the
frames hold for the requests is :class:`~.supervisor.HttpSupervisor`'s; this module knows
processes and sockets only. Why: docs/http.md, "The engine: the HTTP worker".
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import gevent

from . import frames
from .client import HttpLimits
from .link import Link, child_env

log = logging.getLogger("flowengine.server")

_RECV = 262144
#: while it has work, the worker is asked every PING_EVERY s whether its loop still turns;
#: one that has not answered in PING_TIMEOUT s (stopped, spinning, deadlocked) is killed
PING_EVERY, PING_TIMEOUT = 2.0, 10.0
#: a worker that ran this long before it stopped is started again at once
_STABLE = 10.0
_BACKOFF_MIN, _BACKOFF_MAX = 0.25, 5.0
#: what a frame may hold besides its body; unread answers past twice a whole frame pause
#: the reading from the worker until they are handed out (a whole frame: this and the
#: answer's body, at most ``max_answer``)
_OVERHEAD = frames.PREFIX.size + frames.MAX_HEADER


def worker_command(limits: HttpLimits, ca_file: str | None, log_options: tuple[str, str, str], fd: int) -> list[str]:
    """The worker's command line: its socket is descriptor ``fd``; the server's limits,
    CA file and log settings (its lines tagged ``http``)."""
    level, fmt, tag = log_options
    argv = [
        sys.executable,
        "-m",
        "flowengine.http.worker",
        "--fd",
        str(fd),
        "--max-requests",
        str(limits.total),
        "--max-per-host",
        str(limits.per_host),
        "--max-body",
        str(limits.max_body),
        "--log-level",
        level,
        "--log-format",
        fmt,
        "--log-tag",
        f"{tag}http ",
    ]
    return argv + (["--ca", ca_file] if ca_file else [])


class WorkerProcesses:
    """The worker processes of one server, the live one last in :attr:`links` (before it,
    stopped ones whose frames are still handed out). ``on_input`` is called when a link
    has frames to take or has stopped; ``metrics`` counts the restarts."""

    def __init__(
        self,
        command: Callable[[int], list[str]],
        on_input: Callable[[], None],
        *,
        metrics: Any = None,
        ping_every: float = PING_EVERY,
        ping_timeout: float = PING_TIMEOUT,
        max_answer: int = frames.MAX_ANSWER_BODY,
    ) -> None:
        self.command = command
        self.on_input = on_input
        self.metrics = metrics
        self.ping_every, self.ping_timeout = ping_every, ping_timeout
        self.max_answer = max_answer
        self.loop: Any = None
        self.links: list[Link] = []
        self.live: Link | None = None
        self.restarts = 0
        self.closed = False
        self._backoff = 0.0
        self._restart: Any = None

    def spawn(self) -> None:
        """Start a worker. Popen's fork and exec hold the loop ~1–8 ms (measured): at start,
        at the first request of a server that needed none, and at each restart."""
        self._restart = None
        if self.closed:
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
        self.links.append(link)
        self.live = link
        log.info("HTTP worker started (pid %d)", proc.pid)

    def _readable(self, link: Link) -> None:
        try:
            data = link.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.stopped(link, f"its socket failed: {exc}")
            return
        if not data:
            self.stopped(link, "its socket closed")
            return
        link.frames.feed(data)
        if link.frames.held > 2 * (self.max_answer + _OVERHEAD):  # read on once these are handed out
            link.paused = True
            link.reader.stop()
        self.on_input()

    def read_on(self, link: Link) -> None:
        """What was read from ``link`` has been handed out: read on if that was paused."""
        if link.paused:
            link.paused = False
            link.reader.start(partial(self._readable, link))

    def heard(self, link: Link, kind: Any) -> bool:
        """A frame of the process itself (ready, the answer to a ping): True when ``kind``
        is one, handled here."""
        if kind == frames.Kind.READY:
            log.info(
                "HTTP worker ready (pid %d, %.0f ms after it was started)",
                link.proc.pid,
                (time.monotonic() - link.started) * 1000,
            )
            return True
        if kind == frames.Kind.PONG:
            link.pinged = None
            return True
        return False

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
            self.stopped(link, f"it stopped answering (no pong in {self.ping_timeout:g} s)")

    def broken(self, link: Link, why: str) -> None:
        """``link`` sent what is no frame: nothing more is read from it; it is stopped."""
        link.frames = frames.Reader(0)
        self.stopped(link, f"it sent a malformed frame: {why}")

    def stopped(self, link: Link, why: str) -> None:
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
        if self.live is link:
            self.live = None
        if self.closed:
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
            self.spawn()
        self.on_input()

    def _later(self) -> None:
        if self._restart is None and not self.closed:
            self._restart = self.loop.timer(self._backoff)
            self._restart.start(self.spawn)

    def _reap(self, proc: subprocess.Popen) -> None:
        """Wait for the process without blocking the loop (no zombie left)."""
        if proc.poll() is None:
            timer = self.loop.timer(0.2)
            timer.start(partial(self._reap, proc))

    def close(self) -> None:
        """Shutdown: each worker sees EOF and exits (killed if it has not within 2 s)."""
        self.closed = True
        if self._restart is not None:
            self._restart.stop()
        links, self.links, self.live = self.links, [], None
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
