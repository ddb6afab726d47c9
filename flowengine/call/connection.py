"""One outbound Event Socket call's life without any I/O, all but what runs in it.

:class:`CallConnection` connects, sets the call up, hangs it up when it is still ours at
the end, reads FreeSWITCH's last events and closes; every change of phase goes through
:func:`.phases.move`. What runs once the call is set up is a subclass's
(:class:`~flowengine.call.flow_call.FlowCall`): :meth:`CallConnection._routed` starts it
and :meth:`CallConnection._step_done` settles each of its waits. The driver calls
``start(now)``, ``receive(data, now)`` for each read and ``expire(now)`` at ``deadline``,
writes what each returns, and closes the socket once ``closed``.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import CallGone, ProtocolError
from ..esl import OutboundProtocol, commands
from ..runtime.result import CallResult
from .command_forms import sendmsg
from .lifecycle import kept, must_hang_up, reported, setup
from .outcome import ended_on, lost
from .phases import Cue, Phase, move
from .settings import CallSettings
from .waiting import CallWait

log = logging.getLogger("flowengine.flow")
server_log = logging.getLogger("flowengine.server")

# module names for the phases: read on every event, and a global is ~20x faster to reach
# than an enum member through its class
CONNECT, SETUP, FLOW, RELEASE, HANGUP = Phase.CONNECT, Phase.SETUP, Phase.FLOW, Phase.RELEASE, Phase.HANGUP
DRAIN, CLOSED = Phase.DRAIN, Phase.CLOSED
CONNECTED, HANGING_UP, DRAINING, OVER, ABORTED = Cue.CONNECTED, Cue.HANGING_UP, Cue.DRAINING, Cue.OVER, Cue.ABORTED


class CallConnection:
    """A call's connection from ``connect`` to its close: the phases around what runs in it.
    ``settings`` are shared by every call (:mod:`.settings`); ``peer`` is FreeSWITCH's address."""

    __slots__ = ("settings", "peer", "proto", "phase", "flow_name", "released", "hung_up", "outcome", "error", "_wait")

    def __init__(self, settings: CallSettings, peer: str) -> None:
        self.settings = settings
        self.peer = peer
        self.proto = OutboundProtocol(settings.limits)
        self.phase: Phase = CONNECT
        self.flow_name: str | None = None  # what runs on the call, for logs and metrics
        self.released = False  # handed back to the dialplan: never hang it up
        self.hung_up = False  # the flow's own hangup has run
        self.outcome = "ok"  # for the call's summary line: "ok" or what went wrong
        #                                     ("lost: …", "ProtocolError: …", "internal error")
        self.error: Exception | None = None
        self._wait = CallWait()

    # -- what the driver calls ------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """Nothing more to read or write: close the socket."""
        return self.phase is CLOSED

    @property
    def must_hang_up(self) -> bool:
        """Still ours and still up (:func:`.lifecycle.must_hang_up`; the flow's own hangup counts)."""
        return must_hang_up(self.proto, self.released, self.hung_up)

    @property
    def deadline(self) -> float | None:
        """When the current wait gives up (monotonic seconds): call :meth:`expire` then."""
        return self._wait.deadline

    def start(self, now: float) -> bytes:
        data, ticket = self.proto.connect()
        self._wait.on([ticket], now, self.settings.timeouts.connect, self.settings.timeouts.reply)
        return data

    def receive(self, data: bytes, now: float) -> bytes:
        """Bytes read from the socket (``b""``: FreeSWITCH closed it)."""
        if self.phase is CLOSED:
            return b""
        try:
            self.proto.receive(data)
        except ProtocolError as exc:  # the protocol has failed every wait: the call ends
            self._fail(exc)
        return self._progress(now)

    def lost(self, detail: str, now: float) -> bytes:
        """The socket failed (a reset, a write that could not be made)."""
        if self.phase is CLOSED:
            return b""
        self.proto.connection_lost(detail)
        return self._progress(now)

    def expire(self, now: float) -> bytes:
        """The current wait's deadline has passed (early calls are ignored)."""
        deadline = self._wait.deadline
        if self.phase is CLOSED or deadline is None or now < deadline:
            return b""
        if self.phase is DRAIN:
            self._move(OVER)
            return b""
        return self._expired(now)

    def request_hangup(self, cause: str = "NORMAL_CLEARING") -> bytes:
        """Shutdown: ask FreeSWITCH to hang up; the flow then sees the call go as usual.
        A call handed back to the dialplan, or already being hung up, is left alone."""
        if self.phase not in (SETUP, FLOW) or self.proto.gone is not None:
            return b""
        data = commands.hangup(cause)
        self.proto.command(data)
        return data

    def abort(self) -> bytes:
        """A bug in this call's handling: hang up if the call is still ours, and stop."""
        data = commands.hangup("NORMAL_TEMPORARY_FAILURE") if self.must_hang_up and self.proto.channel else b""
        if self.outcome == "ok":
            self.outcome = "internal error"
        if self.phase is FLOW and self.settings.metrics is not None:
            self.settings.metrics.call_ended(self.flow_name, CallResult.ERROR)
        self._move(ABORTED)
        return data

    # -- what runs in the call ----------------------------------------------------------------
    def _routed(self, now: float) -> bytes:
        """The call is set up: route it and start what runs in it (moving to FLOW), or end it."""
        raise NotImplementedError

    def _step_done(self, result: Any, error: Exception | None, now: float) -> bytes:
        """A wait in FLOW is over: the last answer's result, or what failed."""
        raise NotImplementedError

    # -- phases -----------------------------------------------------------------------------
    def _move(self, cue: Cue) -> None:
        self.phase = move(self.phase, cue)

    def _progress(self, now: float) -> bytes:
        """After input: settle the wait if its answer is in, as often as that goes on."""
        if self.phase is DRAIN:
            if reported(self.proto):
                self._move(OVER)
            return b""
        tickets = self._wait.tickets
        if not tickets:
            return self._unanswered(now)
        if not tickets[0].done:  # the first answer is not in: nothing settles yet
            return b""
        settled = self._wait.settled(self.proto, now)
        return b"" if settled is None else self._settled(*settled, now)

    def _unanswered(self, now: float) -> bytes:
        """Input while the call waits for no answer: nothing settles (what runs in it may say otherwise)."""
        return b""

    def _expired(self, now: float) -> bytes:
        """The deadline of a wait for answers has passed: it is over, with a timeout."""
        return self._settled(None, self._wait.timed_out(self.proto, self.settings.timeouts.reply), now)

    def _settled(self, result: Any, error: Exception | None, now: float) -> bytes:
        """The current wait is over: move to the next phase; the bytes it writes."""
        phase = self.phase
        out = b""
        if error is not None and phase in (CONNECT, SETUP, FLOW):
            self.outcome = lost(self.outcome, error, self.proto.heard)
        if phase is FLOW:
            out = self._step_done(result, error, now)
        elif phase is CONNECT:
            out = self._connected(error, now)
        elif phase is SETUP:
            out = self._subscribed(error, now)
        elif phase is RELEASE:
            out = self._finish(now)
        elif phase is HANGUP:
            if error is not None and not isinstance(error, CallGone):
                log.info("call=%s flow=%s hangup failed: %s", self.proto.uuid, self.flow_name or "-", error)
            out = self._drain(now)
        # a wait that is already answered (the call went while we wrote) settles at once
        return out + self._progress(now) if self.phase is not CLOSED else out

    def _connected(self, error: Exception | None, now: float) -> bytes:
        proto = self.proto
        if error is None and proto.channel is None:
            error = ProtocolError("the reply to connect carried no channel data")
        if error is not None:
            return self._failed(error, now)
        plan = setup(self.settings.event_format, self.settings.linger, proto.control, nixevent=True)
        tickets = plan.register(proto, server_log)
        self._move(CONNECTED)
        self._wait.on(tickets, now, self.settings.timeouts.reply, self.settings.timeouts.reply)
        return plan.data

    def _subscribed(self, error: Exception | None, now: float) -> bytes:
        """The set-up is answered: what runs in the call starts (:meth:`_routed`)."""
        return self._failed(error, now) if error is not None else self._routed(now)

    def _failed(self, error: Exception, now: float) -> bytes:
        """A wait before the flow failed (a gone caller is no error): the call ends."""
        if not isinstance(error, CallGone):
            self._fail(error)
        return self._finish(now)

    def _finish(self, now: float) -> bytes:
        if self.must_hang_up and self.proto.channel is not None:
            return self._hang_up("NORMAL_CLEARING", now)
        return self._drain(now)

    def _hang_up(self, cause: str, now: float) -> bytes:
        self._move(HANGING_UP)
        data, ticket = sendmsg(self.proto, "hangup", cause)
        self._wait.on([ticket], now, self.settings.timeouts.reply, self.settings.timeouts.reply)
        return data

    def _drain(self, now: float) -> bytes:
        if reported(self.proto) or self.proto.channel is None:  # no call was ever set up
            self._wait.until(self._wait.deadline)
            self._move(OVER)
        else:
            self._wait.until(now + self.settings.timeouts.drain)
            self._move(DRAINING)
        return b""

    def _fail(self, error: Exception) -> None:
        """An error that ends the call (not the caller hanging up): logged once, kept."""
        if self.error is not None:
            return
        self.error = kept(error)  # for the summary, not re-raised
        self.outcome = ended_on(error, self.proto.uuid or "-", self.peer, self.settings.metrics)
