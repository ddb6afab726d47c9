"""What a flow call on the event loop writes to its socket, never blocking the loop.

A write goes to the kernel at once as far as it takes it; the rest waits in ``backlog`` and
goes when the socket is writable again, after which later writes queue behind it, so the
bytes keep their order. FreeSWITCH reads each command whole before it answers, so a backlog
is rare (a large set of variables on a slow peer).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any


class SocketWriter:
    """``sock``'s writes on ``loop``: :meth:`write`, then :meth:`flush` each time the socket
    is writable while :attr:`backlog` holds bytes (:attr:`watcher` watches for that)."""

    # one per call, thousands at once
    __slots__ = ("loop", "sock", "backlog", "watcher")

    def __init__(self, loop: Any, sock: socket.socket) -> None:
        self.loop = loop
        self.sock = sock
        self.backlog = b""  # written, not yet taken by the kernel
        self.watcher: Any = None

    def write(self, data: bytes, writable: Callable[[], None]) -> str | None:
        """Write ``data`` without blocking; what the kernel cannot take now waits, and
        ``writable()`` is called when it can (it calls :meth:`flush`). What failed, or None."""
        if self.backlog:
            self.backlog += data
            return None
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            return f"write failed: {exc}"
        if sent < len(data):
            self.backlog = data[sent:]
            self.watcher = self.loop.io(self.sock.fileno(), 2)
            self.watcher.start(writable)
        return None

    def flush(self) -> str | None:
        """The socket is writable: write what waits. What failed (what waited is dropped), or None."""
        try:
            sent = self.sock.send(self.backlog)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            self.backlog = b""
            return f"write failed: {exc}"
        self.backlog = self.backlog[sent:]
        if not self.backlog and self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        return None

    def stop(self) -> None:
        """No more writing: stopped, the watcher holds no callback."""
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
