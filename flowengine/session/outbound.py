"""One call over one outbound Event Socket connection, driven by the greenlet that owns it.

There is no reader greenlet: whoever waits (for a reply, an application's completion, a
digit) reads the socket until what it waits for is there, and everything read on the
way is dispatched by :class:`~flowengine.esl.OutboundProtocol`. So nothing can outlive
the call, and a call costs one greenlet. Other greenlets may only ask for a hangup
(server drain), which writes under a lock and lets the owner see the result.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from gevent.lock import Semaphore

from ..call.lifecycle import Timeouts, kept, refusal, setup
from ..errors import CommandFailed, CommandTimeout, FlowengineError, ProtocolError, UnsafeValue
from ..esl import BufferBudget, Dtmf, Event, Limits, OutboundProtocol, Reply, Ticket, commands
from ..esl.messages import ApiResponse
from .base import CallSession
from .call_socket import CallSocket

log = logging.getLogger("flowengine.session")


class OutboundSession(CallSession):
    """``budget``: a :class:`~flowengine.esl.BufferBudget` shared with other connections,
    which caps what they buffer between them (None: no shared cap)."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        limits: Limits = Limits(),
        timeouts: Timeouts = Timeouts(),
        event_format: str = "plain",
        linger: bool = True,
        recording: Any = None,
        budget: BufferBudget | None = None,
    ) -> None:
        self.link = CallSocket(sock, recording)
        self.proto = OutboundProtocol(limits, budget=budget)
        self.proto.parser.on_evicted = self.link.evicted
        self.timeouts = timeouts
        self.event_format = event_format
        self.linger = linger
        self.started_at = time.monotonic()
        self._write_lock = Semaphore()
        self._job_events = False
        self._closed = False
        self.released = False

    # -- set-up and tear-down -------------------------------------------------------------
    def start(self) -> Event:
        """connect, then subscribe to this call's events and linger so none is lost."""
        data, ticket = self.proto.connect()
        reply = self._run(data, ticket, self.timeouts.connect)
        if self.proto.channel is None:
            raise ProtocolError(f"the reply to connect carried no channel data: {reply!r}")
        if self.link.recording is not None:
            self.link.recording.named(self.proto.uuid or "unknown", self.proto.channel)
        plan = setup(self.event_format, self.linger, self.proto.control)
        with self._write_lock:
            tickets = plan.register(self.proto, log)
            self._sendall(plan.data)
        for ticket in tickets:
            refused = refusal(ticket.command, self._wait(ticket, self.timeouts.reply))
            if refused is not None:
                raise refused
        return self.proto.channel

    def finish(self, cause: str = "NORMAL_CLEARING") -> None:
        """End the call if it is still up, read the rest of its events, close the socket."""
        try:
            if self.must_hang_up:
                try:
                    self.hangup(cause)
                except FlowengineError as exc:
                    log.info("%s: hangup at finish failed: %s", self.uuid, exc)
            self.drain()
        finally:
            self.close()

    def drain(self) -> None:
        """After the hangup: read until the call is fully reported, for at most ``drain`` s."""
        deadline = time.monotonic() + self.timeouts.drain
        while not self.proto.finished and not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                self._pump(remaining)
            except ProtocolError:
                return

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            # the CallGone the protocol keeps was raised from this session's frames
            if self.proto.gone is not None:
                kept(self.proto.gone)
            parser = self.proto.parser
            parser.on_evicted = None  # it refers to the socket: nothing outlives the call
            parser.release()  # what it still buffers goes back to the budget
            self.link.close()

    # -- commands -----------------------------------------------------------------------
    def command(self, data: bytes, timeout: float | None = None) -> Reply | ApiResponse:
        """Send a prepared command (see :mod:`flowengine.esl.commands`) and wait for its reply."""
        ticket = self.proto.command(data)
        return self._run(data, ticket, timeout or self.timeouts.reply)

    def execute(
        self, app: str, arg: str | None = None, *, timeout: float | None = None, loops: int | None = None
    ) -> Event:
        """Run an application and return its CHANNEL_EXECUTE_COMPLETE (matched by Application-UUID)."""
        data, ticket = self.proto.execute(app, arg, loops=loops)
        if timeout is None:
            timeout = self.timeouts.completion(app)
        return self._run(data, ticket, timeout)

    def execute_many(self, batch: list[tuple[str, str | None]], *, timeout: float | None = None) -> Event:
        """Pipelined: every application in one write, then each completion in turn. The
        earlier ones must complete at once (``set``), so they get the reply timeout."""
        prepared, refused = [], None
        for app, arg in batch:
            try:
                prepared.append(self.proto.execute(app, arg))
            except UnsafeValue as exc:  # what was prepared is registered: send it anyway
                refused = exc
                break
        with self._write_lock:
            self._sendall(b"".join(data for data, _ in prepared))
        tickets = [ticket for _, ticket in prepared]
        last = None if refused else tickets.pop()
        try:
            for ticket in tickets:
                self._wait(ticket, self.timeouts.reply)
        except FlowengineError:
            for _, ticket in prepared:
                self.proto.abandon(ticket)
            raise
        if refused is not None:
            raise refused
        assert last is not None  # (None only with a refusal)
        return self._wait(last, timeout or self.timeouts.execute)

    def request_hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """From another greenlet: ask FreeSWITCH to hang up; the owner sees CallGone."""
        if self.proto.gone is not None or self._closed:
            return
        data = commands.hangup(cause)
        try:
            with self._write_lock:
                self.proto.command(data)
                self._sendall(data)
        except FlowengineError:
            pass

    def api(self, command: str, timeout: float | None = None) -> str:
        """``api``: the command's output (``-ERR …`` text included, as FreeSWITCH gives it)."""
        reply = self.command(commands.api(command), timeout)
        if isinstance(reply, Reply):  # not 'full' control: refused as a command
            raise CommandFailed("api " + command, reply.text)
        return reply.body

    def bgapi(self, command: str, timeout: float | None = None) -> Event:
        """``bgapi`` with our own Job-UUID; returns its BACKGROUND_JOB (output in ``.body``)."""
        if not self._job_events:
            self.subscribe("BACKGROUND_JOB")
        data, ticket = self.proto.bgapi(command)
        return self._run(data, ticket, timeout or self.timeouts.execute)

    def subscribe(self, *names: str) -> None:
        """``event <fmt> NAME…`` for events myevents does not turn on (needs full control)."""
        self.checked(commands.event(self.event_format, *names))
        if "BACKGROUND_JOB" in names or "ALL" in names:
            self._job_events = True

    def getvar(self, name: str) -> str | None:
        """A channel variable, or None when unset (FreeSWITCH answers ``-ERR`` then)."""
        reply = self.command(commands.getvar(name))
        return None if refusal("getvar", reply) is not None else getattr(reply, "text", "")

    def next_dtmf(self, timeout: float) -> Dtmf | None:
        """The next digit the caller pressed, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.proto.dtmf:
            if self.proto.gone is not None:
                raise self.proto.gone
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._pump(remaining)
        return self.proto.dtmf.pop(0)

    # -- the pump ---------------------------------------------------------------------------
    def _run(self, data: bytes, ticket: Ticket, timeout: float):
        with self._write_lock:
            self._sendall(data)
        return self._wait(ticket, timeout)

    def _sendall(self, data: bytes) -> None:
        if not self.proto.closed and not self._closed:  # (else the tickets already carry CallGone)
            self.link.send(self.proto, data)

    def _wait(self, ticket: Ticket, timeout: float):
        deadline = time.monotonic() + timeout
        while not ticket.done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.proto.abandon(ticket)
                raise CommandTimeout(f"{ticket.command!r}: no answer within {timeout:g} s")
            self._pump(remaining)
        if ticket.error is not None:
            raise ticket.error
        return ticket.result

    def _pump(self, timeout: float) -> None:
        if self._closed or self.proto.closed:
            self.proto.connection_lost("socket closed")
        else:
            self.link.pump(self.proto, timeout)
