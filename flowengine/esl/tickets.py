"""What one call is waiting for: a ticket per command, matched to its answer.

The command side of :class:`~.protocol.OutboundProtocol`: each command is built here
(:mod:`.commands`) and gets a :class:`Ticket`; a reply answers the oldest unanswered
command (FreeSWITCH answers in order), an application's CHANNEL_EXECUTE_COMPLETE the ticket
of its Event-UUID, a BACKGROUND_JOB the ticket of its Job-UUID. Once the call is gone, what
can no longer be answered fails with the call's :class:`~flowengine.errors.CallGone`.
"""

from __future__ import annotations

import itertools
import uuid as uuidlib
from collections.abc import Callable

from ..errors import CallGone
from . import commands
from .messages import Message


class Ticket:
    """What one command is waiting for. ``done`` turns true exactly once.

    ``result`` is the Reply / ApiResponse for a plain command, the
    CHANNEL_EXECUTE_COMPLETE event for an execute, the BACKGROUND_JOB event for a bgapi.
    """

    __slots__ = ("command", "kind", "key", "reply", "result", "error", "done", "abandoned")

    def __init__(self, command: str, kind: str = "reply", key: str | None = None) -> None:
        self.command = command
        self.kind = kind  # "reply", "execute" or "job"
        self.key = key  # Event-UUID or Job-UUID
        self.reply: Message | None = None
        self.result: object = None
        self.error: Exception | None = None
        self.done = False
        self.abandoned = False

    def __repr__(self) -> str:
        state = "done" if self.done else "waiting"
        return f"<Ticket {self.command!r} {state}>"


def _uuid_series() -> Callable[[], str]:
    """UUID-shaped keys for one call: one random UUID, then its last group counted up.

    Keys only need to be unique within the call (they are matched per connection); a
    ``uuid4()`` per command showed in profiles of the server under load.
    """
    first = str(uuidlib.uuid4())
    prefix, counter = first[:24], itertools.count(int(first[24:], 16))
    return lambda: f"{prefix}{next(counter) & 0xFFFFFFFFFFFF:012x}"


class CommandQueue:
    """The commands one call has sent and what each still waits for."""

    __slots__ = ("_new_uuid", "_replies", "_executes", "_jobs", "gone", "closed")

    def __init__(self, new_uuid: Callable[[], str] | None = None) -> None:
        self._new_uuid = new_uuid or _uuid_series()
        # lists, not deques: they hold a ticket or two, and an empty deque is ~600 bytes
        # (this object lives as long as the call, 10,000 at once on a busy box)
        self._replies: list[Ticket] = []
        self._executes: dict[str, Ticket] = {}
        self._jobs: dict[str, Ticket] = {}
        self.gone: CallGone | None = None
        self.closed = False  # final disconnect notice, EOF or reset

    def command(self, data: bytes) -> Ticket:
        """Register a command whose answer is one reply; returns its ticket."""
        ticket = Ticket(data.split(b"\n", 1)[0].decode("utf-8", "replace"))
        self._enqueue(ticket)
        return ticket

    def connect(self) -> tuple[bytes, Ticket]:
        data = commands.connect()
        return data, self.command(data)

    def execute(
        self, app: str, arg: str | None = None, *, loops: int | None = None, event_lock: bool = True
    ) -> tuple[bytes, Ticket]:
        """sendmsg execute with a fresh Event-UUID; the ticket ends at its EXECUTE_COMPLETE."""
        key = self._new_uuid()
        data = commands.execute(app, arg, event_uuid=key, event_lock=event_lock, loops=loops)
        ticket = Ticket(f"execute {app} {arg or ''}".rstrip(), "execute", key)
        self._executes[key] = ticket
        self._enqueue(ticket)
        return data, ticket

    def bgapi(self, command: str) -> tuple[bytes, Ticket]:
        key = self._new_uuid()
        data = commands.bgapi(command, key)
        ticket = Ticket(f"bgapi {command}", "job", key)
        self._jobs[key] = ticket
        self._enqueue(ticket)
        return data, ticket

    def abandon(self, ticket: Ticket) -> None:
        """Give up on a ticket (timed out). Its late answer will be swallowed, not reused."""
        if not ticket.done:
            ticket.abandoned = True
            ticket.done = True
        self._forget(ticket)

    def _enqueue(self, ticket: Ticket) -> None:
        if self.gone is not None:
            # After the hangup an application never completes; a plain command is still
            # answered while the socket lingers.
            if self.closed or ticket.kind != "reply":
                self._finish(ticket, error=self.gone)
                self._forget(ticket)
            if self.closed:
                return
        self._replies.append(ticket)

    def _forget(self, ticket: Ticket) -> None:
        key = ticket.key
        if key is None:
            return  # a plain command: in neither table
        if ticket.kind == "execute":
            self._executes.pop(key, None)
        elif ticket.kind == "job":
            self._jobs.pop(key, None)

    @staticmethod
    def _finish(ticket: Ticket, result: object = None, error: Exception | None = None) -> None:
        if not ticket.done:
            ticket.result = result
            ticket.error = error
            ticket.done = True

    def _fail_waiting(self, error: CallGone) -> None:
        """The call is gone: every ticket still waiting fails with ``error``."""
        for ticket in self._replies[:]:
            if not ticket.done:
                self._finish(ticket, error=error)
        for table in (self._executes, self._jobs):
            for ticket in table.values():
                self._finish(ticket, error=error)
            table.clear()
