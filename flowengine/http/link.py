"""One HTTP worker process and the server's end of its socket (:mod:`.processes` runs them),
and the :class:`RequestTicket` of each request written to it."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from ..flows.effects import HttpRequest
from . import frames
from .inprocess import Answer


class RequestTicket:
    """A request handed to the worker; :meth:`~.supervisor.HttpSupervisor.cancel` drops it."""

    __slots__ = ("ident", "request", "call", "on_answer", "link", "cancelled", "submitted")

    def __init__(self, ident: int, request: HttpRequest, call: str, on_answer: Answer) -> None:
        self.submitted = time.monotonic()
        self.ident = ident
        self.request = request
        self.call = call
        self.on_answer = on_answer
        self.link: Link | None = None
        self.cancelled = False


class Link:
    """One worker process and this side of its socket: what was written and not yet taken
    by the kernel waits here (:meth:`send`), written as the socket allows, never blocking
    the loop."""

    __slots__ = (
        "loop",
        "proc",
        "sock",
        "frames",
        "pending",
        "out",
        "reader",
        "writer",
        "started",
        "eof",
        "paused",
        "watchdog",
        "pinged",
    )

    def __init__(self, loop: Any, proc: subprocess.Popen, sock: socket.socket, max_answer: int) -> None:
        self.loop = loop
        self.proc = proc
        self.sock = sock
        self.frames = frames.Reader(max_answer)  # an answer body past this fails its request
        self.pending: dict[int, RequestTicket] = {}
        self.out = bytearray()  # written, not yet taken by the kernel
        self.reader: Any = None
        self.writer: Any = None
        self.started = time.monotonic()
        self.eof = False  # the worker is gone; what it wrote is still handed out
        self.paused = False  # the reader stopped: enough unread answers held
        self.watchdog: Any = None  # the timer that pings it while it has work
        self.pinged: float | None = None  # when the ping now unanswered went

    def send(self, frame: bytes) -> None:
        """Write ``frame`` after what is waiting (a gone worker: its EOF comes to the reader)."""
        if self.out:
            self.out += frame
            return
        try:
            sent = self.sock.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:  # the worker is gone: its EOF comes to the reader
            return
        if sent < len(frame):
            self.out += frame[sent:]
            self.writer = self.loop.io(self.sock.fileno(), 2)
            self.writer.start(self._writable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            sent = len(self.out)
        del self.out[:sent]
        if not self.out and self.writer is not None:
            self.writer.stop()
            self.writer = None

    def stop_watching(self) -> None:
        """No more reading, writing or pinging on this link."""
        for watcher in (self.reader, self.writer, self.watchdog):
            if watcher is not None:
                watcher.stop()
        self.reader = self.writer = self.watchdog = None


def child_env() -> dict[str, str]:
    """The worker's environment: the server's, and where this ``flowengine`` is imported from
    unless that is an installed package's site-packages (which the child finds anyway, and
    which must not go before the standard library)."""
    import site

    root = str(Path(__file__).resolve().parent.parent.parent)
    installed = set(site.getsitepackages()) | {site.getusersitepackages()}
    if root in installed:
        return dict(os.environ)
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH")))))
