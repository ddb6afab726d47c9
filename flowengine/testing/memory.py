"""Calls over memory: the real protocol state and a FreeSWITCH peer without sockets.

:func:`converse` runs a :class:`~flowengine.call.flow_call.FlowCall` (what the server runs for
every call) against a peer, so flow tests exercise the same parser, call phases and
interpreter as a live call, only faster and with no network. :class:`MemorySession` offers
the blocking session API (``start``, ``execute``, ``command``, ``hangup``, ``finish``) over
the same peers, for code written against :class:`~flowengine.session.OutboundSession`
(and set up by the same rules, :mod:`flowengine.call.lifecycle`).
A peer is anything with ``receive(bytes) -> list[(gap, bytes)]``: a replayed recording or
a scripted FreeSWITCH.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from ..call.lifecycle import setup
from ..errors import CommandTimeout
from ..esl import Event, OutboundProtocol, Ticket
from ..session.base import CallSession

if TYPE_CHECKING:
    from ..call.flow_call import FlowCall

log = logging.getLogger("flowengine.session")


class Peer(Protocol):
    def receive(self, data: bytes) -> list[tuple[float, bytes]]: ...


class MemorySession(CallSession):
    def __init__(self, peer: Peer, *, linger: bool = True, event_format: str = "plain") -> None:
        self.peer = peer
        self.proto = OutboundProtocol()
        self.linger = linger
        self.event_format = event_format
        self.released = False
        self.sent: list[bytes] = []

    def _send(self, data: bytes, ticket: Ticket):
        if ticket.done:  # refused before it was sent (the call is already gone)
            if ticket.error is not None:
                raise ticket.error
            return ticket.result
        self.sent.append(data)
        if not self.proto.closed:
            for _, chunk in self.peer.receive(data):
                self.proto.receive(chunk)
        if not ticket.done:
            self.proto.abandon(ticket)
            raise CommandTimeout(f"{ticket.command!r}: FreeSWITCH never answered")
        if ticket.error is not None:
            raise ticket.error
        return ticket.result

    def start(self) -> Event:
        data, ticket = self.proto.connect()
        self._send(data, ticket)
        plan = setup(self.event_format, self.linger, self.proto.control)
        plan.warn(log, self.uuid)
        for data in plan.awaited:  # one at a time: a peer answers each write in full
            self.checked(data)
        return self.proto.channel  # type: ignore[return-value]

    def command(self, data: bytes, timeout: float | None = None):
        return self._send(data, self.proto.command(data))

    def execute(self, app: str, arg: str | None = None, *, timeout: float | None = None,
                loops: int | None = None) -> Event:
        data, ticket = self.proto.execute(app, arg, loops=loops)
        return self._send(data, ticket)

    def finish(self, cause: str = "NORMAL_CLEARING") -> None:
        if self.must_hang_up:
            try:
                self.hangup(cause)
            except CommandTimeout:
                pass


def converse(call: "FlowCall", peer: Peer, now: float = 0.0) -> float:
    """Run a :class:`~flowengine.call.flow_call.FlowCall` against ``peer`` until it closes,
    the way the server's event loop does, with time that moves only when nothing else can:
    what the call writes goes to the peer, what the peer answers comes back (its recorded
    gaps added to the clock); when neither has more to say, the call's current wait expires
    (or, if the recorded FreeSWITCH closed the socket, the call reads its end). Returns the
    simulated seconds it took."""
    start = now
    out = call.start(now)
    while not call.closed:
        if out:
            answers, out = peer.receive(out), b""
            for gap, chunk in answers:
                now += gap
                out += call.receive(chunk, now)
                if call.closed:
                    break
            if out:
                continue
        if call.closed:
            break
        if getattr(peer, "exhausted", False) and getattr(peer, "peer_closes", False) and not call.proto.closed:
            out = call.receive(b"", now)
        elif call.deadline is not None:
            now = max(now, call.deadline)
            out = call.expire(now)
        else:  # pragma: no cover - every open phase has a deadline
            raise AssertionError(f"call in phase {call.phase} waits for nothing")
    return now - start
