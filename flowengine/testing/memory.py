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
from .scripted_http import UnscriptedRequest

if TYPE_CHECKING:
    from ..call.flow_call import FlowCall
    from ..flows.effects import HttpResult

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

    def start(self) -> Event | None:
        """connect and set the call up as a live session does; the connect reply's channel
        data (None: it carried none)."""
        data, ticket = self.proto.connect()
        self._send(data, ticket)
        plan = setup(self.event_format, self.linger, self.proto.control)
        plan.warn(log, self.uuid)
        for data in plan.awaited:  # one at a time: a peer answers each write in full
            self.checked(data)
        return self.proto.channel

    def command(self, data: bytes, timeout: float | None = None):
        return self._send(data, self.proto.command(data))

    def execute(
        self, app: str, arg: str | None = None, *, timeout: float | None = None, loops: int | None = None
    ) -> Event:
        data, ticket = self.proto.execute(app, arg, loops=loops)
        return self._send(data, ticket)

    def finish(self, cause: str = "NORMAL_CLEARING") -> None:
        if self.must_hang_up:
            try:
                self.hangup(cause)
            except CommandTimeout:
                pass


def converse(call: FlowCall, peer: Peer, now: float = 0.0) -> float:
    """Run a :class:`~flowengine.call.flow_call.FlowCall` against ``peer`` until it closes,
    the way the server's event loop does, with time that moves only when nothing else can:
    what the call writes goes to the peer, what the peer answers comes back (its recorded
    gaps added to the clock); when neither has more to say, the call's current wait expires
    (or, if the recorded FreeSWITCH closed the socket, the call reads its end). Returns the
    simulated seconds it took.

    A step's HTTP request is answered by ``peer.answer_http(request) -> (delay, result)``
    (a flow test's scripted answers, the person at the terminal), ``delay`` simulated
    seconds later unless the call's own deadline (a hold prompt, the call ending) comes
    first; meanwhile the peer's ``http_due_in`` says how long the answer has still to come
    (a prompt longer than that is stopped by it), and ``peer.during_http()`` may say what
    the caller does while it waits (hang up)."""
    start = now
    out = call.start(now)
    pending: tuple[float, int, HttpResult] | None = None  # (when, token, result)
    while not call.closed:
        asked = call.take_request()
        if asked is not None:
            token, request = asked
            answer = getattr(peer, "answer_http", None)
            if answer is None:
                raise UnscriptedRequest(
                    f"step {request.step!r} sent {request.masked(request.method + ' ' + request.url)}"
                    " but nothing here answers HTTP requests"
                )
            delay, result = answer(request)
            pending = (now + delay, token, result)
            during = getattr(peer, "during_http", None)
            for gap, chunk in during() if during is not None else ():
                now += gap
                out += call.receive(chunk, now)
        if pending is not None and call.awaiting != pending[1]:
            pending = None  # the caller hung up meanwhile: the answer is dropped
        if hasattr(peer, "http_due_in"):
            peer.http_due_in = pending[0] - now if pending is not None and call.awaiting == pending[1] else None
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
        if call.http_out is not None:  # a request came due with the last input: take it first
            continue
        if (
            pending is not None
            and call.awaiting == pending[1]
            and (call.deadline is None or pending[0] <= call.deadline)
        ):
            now = max(now, pending[0])
            token, result, pending = pending[1], pending[2], None
            out = call.http_done(token, result, now)
        elif getattr(peer, "exhausted", False) and getattr(peer, "peer_closes", False) and not call.proto.closed:
            out = call.receive(b"", now)
        elif call.deadline is not None:
            now = max(now, call.deadline)
            out = call.expire(now)
        else:  # pragma: no cover - every open phase has a deadline
            raise AssertionError(f"call in phase {call.phase} waits for nothing")
    return now - start
