"""The dialer's control connection, kept up: connect and log in, read every message, and
connect again (backing off up to 30 s) when it drops. Each command's reply is matched to
what it means by order (FreeSWITCH answers commands on a connection one by one, in order:
mod_event_socket.c, parse_command), so a sender says with each write what its replies
mean; the events go to the owner. What the calls are is the :class:`~.dialer.Dialer`'s.

Order only holds if the bytes do: one writer at a time (two greenlets writing one socket
cut each other's commands, shift every reply after them, or make gevent raise
ConcurrentObjectUseError). Nothing waits for FreeSWITCH without a limit: a write not done
in ``write_timeout`` (FreeSWITCH stopped reading), or a reply owed for ``reply_timeout``
(it stopped answering), drops the connection, and it is made again; the calls it carried
keep their places and are asked about on the new one (:meth:`~.recovery.Recovery.follow_again`).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import gevent
from gevent import socket as gsocket
from gevent.lock import BoundedSemaphore

from ..esl import ApiResponse, Event, Reply
from .control import Control, ControlError

log = logging.getLogger("flowengine.originate")

#: what a command's reply means to its sender (None: nothing)
Meaning = Callable[[Reply | ApiResponse], None] | None
#: how long a write may wait for FreeSWITCH to read (seconds)
WRITE_TIMEOUT = 10.0
#: how long a command's reply may be owed (seconds): ``api`` commands the dialer sends
#: (uuid_kill, uuid_exists, uuid_getvar) are answered at once, ``bgapi`` before the job runs
REPLY_TIMEOUT = 10.0


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
        write_timeout: float = WRITE_TIMEOUT,
        reply_timeout: float = REPLY_TIMEOUT,
    ) -> None:
        self.freeswitch = freeswitch
        self.password = password
        self.connect_timeout = connect_timeout
        self.write_timeout = write_timeout
        self.reply_timeout = reply_timeout
        self.on_up = on_up
        self.on_event = on_event
        self.control: Control | None = None
        # per command sent on this connection, in order: when its reply is due, what it means
        self._replies: deque[tuple[float, Meaning]] = deque()
        self._writing = BoundedSemaphore(1)  # one writer at a time
        self._why: str | None = None  # why the connection was dropped from this side

    @property
    def up(self) -> bool:
        return self.control is not None

    @property
    def owed(self) -> int:
        """Replies owed on the connection."""
        return len(self._replies)

    def send(self, data: bytes, *meanings: Meaning) -> None:
        """Write ``data``, one meaning per command in it, after any other write; ControlError
        when it cannot be written in time (the connection is then dropped and made again:
        a command cut short leaves nothing on it to trust)."""
        if not self._writing.acquire(timeout=self.write_timeout):
            raise ControlError(f"another write to FreeSWITCH has not ended in {self.write_timeout:g} s")
        try:
            control = self.control
            if control is None:
                raise ControlError("no control connection")
            # the reply slots go in before the bytes: the reader may take the reply before
            # this greenlet runs again
            due = time.monotonic() + self.write_timeout + self.reply_timeout
            replies = self._replies
            replies.extend((due, meaning) for meaning in meanings)
            timer = gevent.Timeout(self.write_timeout)
            timer.start()
            try:
                control.send(data)
            except (ControlError, gevent.Timeout) as exc:
                if isinstance(exc, gevent.Timeout) and exc is not timer:
                    raise
                for _ in meanings:  # this write's slots are the last ones: no reply comes for them
                    replies.pop()
                why = f"{control.where} read nothing for {self.write_timeout:g} s" if exc is timer else str(exc)
                self._drop(control, why)
                raise ControlError(why) from None
            finally:
                timer.close()
        finally:
            self._writing.release()

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
            guard = None
            try:
                control = self._connect()
                self._replies, self._why = deque(), None
                self.control = control
                delay = 0.5
                guard = gevent.spawn(self._guard, control)
                self.on_up()
                while True:
                    for message in control.receive(None):
                        self._take(message)
            except (OSError, ControlError) as exc:
                log.warning("originate control connection: %s; again in %g s", self._why or exc, delay)
                self.control = None
                self._replies = deque()  # the replies still owed will never come
            finally:
                if guard is not None:
                    guard.kill(block=False)
            gevent.sleep(delay)
            delay = min(delay * 2, 30.0)

    def _guard(self, control: Control) -> None:
        """Drop ``control`` once a reply on it is owed past its due time: FreeSWITCH logged
        in and answers nothing, and the calls waiting on those replies would hold their
        places for good."""
        tick = max(min(self.reply_timeout / 4, 1.0), 0.01)
        while self.control is control:
            replies = self._replies
            if replies and replies[0][0] <= time.monotonic():
                self._drop(control, f"{control.where} owes a reply for more than {self.reply_timeout:g} s")
                return
            gevent.sleep(tick)

    def _drop(self, control: Control, why: str) -> None:
        """Close ``control`` (the reading greenlet then sees it gone and connects again)."""
        if self.control is control and self._why is None:
            self._why = why
        control.sock.close()

    def _connect(self) -> Control:
        host, port = self.freeswitch
        sock = gsocket.create_connection((host, port), timeout=self.connect_timeout)
        control = Control(sock, where=f"FreeSWITCH at {host}:{port}")
        control.login(self.password, self.connect_timeout)
        return control

    def _take(self, message: Any) -> None:
        if isinstance(message, (Reply, ApiResponse)):  # api's answer is api/response
            meaning = self._replies.popleft()[1] if self._replies else None
            if meaning is not None:
                meaning(message)
        elif isinstance(message, Event):
            self.on_event(message)
