"""The dialer's control connection, kept up: connect and log in, read every message, and
connect again (backing off up to 30 s) when it drops. Each command's reply is matched to
what it means by order (FreeSWITCH answers commands on a connection one by one, in order:
mod_event_socket.c, parse_command), so a sender says with each write what its replies
mean; the events go to the owner. What the calls are is the :class:`~.dialer.Dialer`'s.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import gevent
from gevent import socket as gsocket

from ..esl import ApiResponse, Event, Reply
from .control import Control, ControlError

log = logging.getLogger("flowengine.originate")

#: what a command's reply means to its sender (None: nothing)
Meaning = Callable[[Reply | ApiResponse], None] | None


class Link:
    """One control connection at a time. ``on_up()`` runs on each new connection before it
    is read; ``on_event(event)`` gets each event read."""

    def __init__(
        self,
        freeswitch: tuple[str, int],
        password: str,
        connect_timeout: float,
        *,
        on_up: Callable[[], None],
        on_event: Callable[[Event], None],
    ) -> None:
        self.freeswitch = freeswitch
        self.password = password
        self.connect_timeout = connect_timeout
        self.on_up = on_up
        self.on_event = on_event
        self.control: Control | None = None
        # per command sent, in order: what its reply means
        self._replies: deque[Meaning] = deque()

    @property
    def up(self) -> bool:
        return self.control is not None

    def send(self, data: bytes, *meanings: Meaning) -> None:
        """Write ``data``, one meaning per command in it; ControlError when it cannot be
        written (the reading greenlet then sees the connection gone)."""
        assert self.control is not None  # callers send only with a connection
        self._replies.extend(meanings)
        self.control.send(data)

    def try_send(self, data: bytes, *meanings: Meaning) -> bool:
        """:meth:`send` when there is a connection; False when there is none or the write
        failed (what the command would have done is then left to the deadlines)."""
        if self.control is None:
            return False
        try:
            self.send(data, *meanings)
        except ControlError:
            return False
        return True

    def close(self) -> None:
        if self.control is not None:
            self.control.sock.close()

    def run(self) -> None:
        """The reading greenlet: connect, read, and again after a drop."""
        delay = 0.5
        while True:
            try:
                self.control = self._connect()
                delay = 0.5
                self.on_up()
                while True:
                    for message in self.control.receive(None):
                        self._take(message)
            except (OSError, ControlError) as exc:
                log.warning("originate control connection: %s; again in %g s", exc, delay)
                self.control = None
                self._replies.clear()  # the replies still owed will never come
                gevent.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _connect(self) -> Control:
        host, port = self.freeswitch
        sock = gsocket.create_connection((host, port), timeout=self.connect_timeout)
        control = Control(sock, where=f"FreeSWITCH at {host}:{port}")
        control.login(self.password, self.connect_timeout)
        return control

    def _take(self, message: Any) -> None:
        if isinstance(message, (Reply, ApiResponse)):  # api's answer is api/response
            meaning = self._replies.popleft() if self._replies else None
            if meaning is not None:
                meaning(message)
        elif isinstance(message, Event):
            self.on_event(message)
