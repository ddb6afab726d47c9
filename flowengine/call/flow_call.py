"""One flow call, from ``connect`` to the socket's close, without any I/O.

The waits a greenlet would block in are phases: the driver calls ``start(now)``,
``receive(data, now)`` for each read and ``expire(now)`` at ``deadline``, writes what each
returns, and closes the socket once ``closed``. The server, flow tests and ``run.py
simulate`` run this same object (docs/architecture.md, "A call without I/O").
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, Callable

from ..errors import CallGone, CommandTimeout, FlowengineError, ProtocolError, UnsafeValue
from ..esl import Limits, OutboundProtocol, Ticket, commands
from ..esl.protocol import LOST
from ..flows.effects import Effect, Execute, HttpRequest, HttpResult
from ..flows.flowset import FlowSet
from ..preflight.hosts import Hosts, UnknownApplication
from ..flows.interpreter import FlowRun
from ..flows import checkpoint
from . import failover, wire
from .batching import After, collect
from .http_wait import HttpWait
from .lifecycle import CallResult, Phase, Timeouts, failure, kept, must_hang_up, setup

log = logging.getLogger("flowengine.flow")
server_log = logging.getLogger("flowengine.server")

#: the cause for a call to a number no flow serves (and no default flow)
UNROUTED_CAUSE = "UNALLOCATED_NUMBER"

# module names for the phases: read on every event, and a global is ~20x faster to reach
# than an enum member through its class
CONNECT, SETUP, FLOW, RELEASE, HANGUP = Phase.CONNECT, Phase.SETUP, Phase.FLOW, Phase.RELEASE, Phase.HANGUP
DRAIN, CLOSED = Phase.DRAIN, Phase.CLOSED


class FlowCall(HttpWait):
    """``flows()`` gives the flow set in force when the call is routed (the call keeps it
    to the end, whatever a reload does). ``run_options`` go to :class:`FlowRun` (a
    test's clock, tracing); ``before`` sees each command as it is about to be sent."""

    # one per call, thousands at once
    __slots__ = ("flows", "timeouts", "event_format", "linger", "metrics", "peer", "run_options", "before",
                 "proto", "phase", "deadline", "run", "flow_name", "released", "hung_up", "outcome", "error",
                 "_waiting", "_last_app", "_span", "_final_span", "_refused", "_then", "hosts", "core",
                 "http_out", "awaiting", "_tokens", "_request", "_asked", "_answer", "_hold_at", "_hold",
                 "_http_deadline", "_asking", "failover", "failover_key", "checkpoint_held", "resumed")

    def __init__(self, flows: Callable[[], FlowSet], timeouts: Timeouts, *, limits: Limits = Limits(),
                 event_format: str = "plain", linger: bool = True, metrics: Any = None, peer: str = "-",
                 run_options: dict[str, Any] | None = None,
                 before: Callable[[FlowRun, Execute], None] | None = None,
                 hosts: Hosts | None = None, failover: bool = False, failover_key: bytes | None = None) -> None:
        self.flows = flows
        # keep a checkpoint on the channel at each step, and resume one the channel brings
        # (:mod:`flowengine.flows.checkpoint`); needs `socket … full` (api uuid_setvar)
        self.failover = failover
        self.failover_key = failover_key    # sign checkpoints, and take only signed ones
        self.checkpoint_held: str | None = None      # the checkpoint the channel holds, as last written
        self.resumed = False                # this call was taken over from another host
        self.timeouts = timeouts
        self.event_format = event_format
        self.linger = linger
        self.metrics = metrics
        self.peer = peer
        self.run_options = run_options
        self.before = before
        self.hosts = hosts if hosts is not None else Hosts()  # the server shares one
        self.core: str | None = None       # the FreeSWITCH host's Core-UUID
        self._asking = False                # this call carries questions to its host (preflight)
        self.proto = OutboundProtocol(limits)
        self.phase: Phase = CONNECT
        self.deadline: float | None = None  # when the current wait gives up (monotonic seconds)
        self.run: FlowRun | None = None
        self.flow_name: str | None = None
        self.released = False               # handed back to the dialplan: never hang it up
        self.hung_up = False                # the flow's own hangup has run
        self.outcome = "ok"                 # for the call's summary line: "ok" or what went wrong
        #                                     ("lost: …", "ProtocolError: …", "internal error")
        self.error: FlowengineError | None = None
        self._waiting: list[Ticket] = []    # one write's tickets; the last one's answer resumes
        self._span = 0.0                    # the current wait's length, for its timeout message
        self._final_span = 0.0              # the last ticket's, once the earlier ones are in
        self._refused: UnsafeValue | None = None
        self._then: After = "resume"        # what follows the batch in flight
        self._last_app: str | None = None
        self.http_out: tuple[int, HttpRequest] | None = None   # due to be performed by the driver
        self.awaiting: int | None = None       # the token of the request in flight
        self._tokens = 0
        self._request: HttpRequest | None = None  # to perform once the batch in flight is done
        self._asked: HttpRequest | None = None    # in flight
        self._answer: HttpResult | None = None    # in, waiting for the hold prompt to stop
        self._hold_at: float | None = None
        self._hold: Ticket | None = None          # the hold prompt's playback
        self._http_deadline = 0.0

    # -- what the driver calls ------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """Nothing more to read or write: close the socket."""
        return self.phase == CLOSED

    @property
    def must_hang_up(self) -> bool:
        """Still ours and still up (:func:`.lifecycle.must_hang_up`; the flow's own
        completed hangup counts as down)."""
        return must_hang_up(self.proto, self.released, self.hung_up)

    def start(self, now: float) -> bytes:
        data, ticket = self.proto.connect()
        self._wait([ticket], now, self.timeouts.connect)
        return data

    def receive(self, data: bytes, now: float) -> bytes:
        """Bytes read from the socket (``b""``: FreeSWITCH closed it)."""
        if self.phase == CLOSED:
            return b""
        try:
            self.proto.receive(data)
        except ProtocolError as exc:  # the protocol has failed every wait: the call ends
            self._fail(exc)
        out = self._progress(now)
        if self._asking:  # the host's next questions go out once these are answered
            asked, self._asking = self.hosts.more(self.core, self.proto, now, may_ask=self.phase == FLOW)
            out += asked
        return out

    def lost(self, detail: str, now: float) -> bytes:
        """The socket failed (a reset, a write that could not be made)."""
        if self.phase == CLOSED:
            return b""
        self.proto.connection_lost(detail)
        return self._progress(now)

    def expire(self, now: float) -> bytes:
        """The current wait's deadline has passed (early calls are ignored)."""
        if self.phase == CLOSED or self.deadline is None or now < self.deadline:
            return b""
        if self.phase == DRAIN:
            self.phase = CLOSED
            return b""
        if self.awaiting is not None:
            return self._http_waited(now)
        first = next((t for t in self._waiting if not t.done), None)
        for ticket in self._waiting:
            self.proto.abandon(ticket)
        self._waiting = []
        what = first.command if first is not None else "?"
        return self._settled(None, CommandTimeout(f"{what!r}: no answer within {self._span:g} s"), now)

    def request_hangup(self, cause: str = "NORMAL_CLEARING") -> bytes:
        """Shutdown: ask FreeSWITCH to hang up; the flow then sees the call go as usual.
        A call handed back to the dialplan, or already being hung up, is left alone."""
        if self.phase not in (SETUP, FLOW) or self.proto.gone is not None:
            return b""
        data = commands.hangup(cause)
        self.proto.command(data)
        return data

    def hand_over(self) -> bool:
        """Shutdown with failover: let the call go with its checkpoint in place (the driver
        closes the socket; FreeSWITCH runs the dialplan's next ``socket``). Only a call in
        its flow whose checkpoint is written and that waits on no HTTP request (its
        request would be made twice)."""
        if self.phase != FLOW or not self.checkpoint_held or self.proto.gone is not None or self.awaiting is not None:
            return False
        self.released = True
        self.outcome = "handed over"
        self.phase = CLOSED
        log.info("call=%s flow=%s step=%s: handed over to the next host (shutdown)", self.proto.uuid,
                 self.flow_name, self.run.step if self.run is not None else "-")
        return True

    def abort(self) -> bytes:
        """A bug in this call's handling: hang up if the call is still ours, and stop."""
        data = commands.hangup("NORMAL_TEMPORARY_FAILURE") if self.must_hang_up and self.proto.channel else b""
        if self.outcome == "ok":
            self.outcome = "internal error"
        if self.phase == FLOW and self.metrics is not None:
            self.metrics.call_ended(self.flow_name, CallResult.ERROR)
        self.phase = CLOSED
        return data

    # -- waits ------------------------------------------------------------------------------
    def _wait(self, tickets: list[Ticket], now: float, span: float, final_span: float | None = None) -> None:
        """Earlier tickets get ``span`` (they answer at once); the last, ``final_span``."""
        self._waiting = tickets
        self._span = span
        self._final_span = span if final_span is None else final_span
        if len(tickets) == 1:
            self._span = self._final_span
        self.deadline = now + self._span

    def _progress(self, now: float) -> bytes:
        """After input: settle the wait if its answer is in, as often as that goes on."""
        if self.phase == DRAIN:
            if self._reported():
                self.phase = CLOSED
            return b""
        if self.awaiting is not None:
            if self.proto.gone is None and not self.proto.closed:
                return b""
            # the caller hung up during the request: the call ends now, the answer is dropped
            self.awaiting = self.http_out = self._asked = self._hold = None
            gone = self.proto.gone
            if not isinstance(self.error, ProtocolError):
                self.run.caller_gone(gone.cause if gone is not None else "connection closed")  # type: ignore[union-attr]
            return self._flow_over(now)
        waiting = self._waiting
        while len(waiting) > 1:
            first = waiting[0]
            if not first.done:
                return b""
            failed = failure(first)
            if failed is not None:
                for ticket in waiting:
                    self.proto.abandon(ticket)
                self._waiting = []
                return self._settled(None, failed, now)
            waiting.pop(0)
            if len(waiting) == 1:
                self._span = self._final_span
                self.deadline = now + self._span
        if not waiting or not waiting[0].done:
            return b""
        last = waiting.pop()
        failed = failure(last) or self._refused
        self._refused = None
        return self._settled(last.result, failed, now)

    def _settled(self, result: Any, error: Exception | None, now: float) -> bytes:
        """The current wait is over: move to the next phase; the bytes it writes."""
        phase = self.phase
        out = b""
        if isinstance(error, CallGone) and error.cause == LOST and phase in (CONNECT, SETUP, FLOW) \
                and self.outcome == "ok" and self.proto.heard:
            self.outcome = f"lost: {error.detail}"  # the socket ended with no hangup: not a call that ended well
        if phase == CONNECT:
            out = self._connected(error, now)
        elif phase == SETUP:
            out = self._subscribed(error, now)
        elif phase == FLOW:
            out = self._step_done(result, error, now)
        elif phase == RELEASE:
            out = self._finish(now)
        elif phase == HANGUP:
            if error is not None and not isinstance(error, CallGone):
                log.info("call=%s flow=%s hangup failed: %s", self.proto.uuid, self.flow_name or "-", error)
            out = self._drain(now)
        # a wait that is already answered (the call went while we wrote) settles at once
        return out + self._progress(now) if self.phase != CLOSED else out

    def _connected(self, error: Exception | None, now: float) -> bytes:
        if error is not None:
            if not isinstance(error, CallGone):
                self._fail(error)
            return self._finish(now)
        if self.proto.channel is None:
            self._fail(ProtocolError("the reply to connect carried no channel data"))
            return self._finish(now)
        proto = self.proto
        plan = setup(self.event_format, self.linger, proto.control, nixevent=True)
        plan.warn(server_log, proto.uuid)
        tickets = [proto.command(data) for data in plan.awaited]
        if plan.unawaited:
            proto.command(plan.unawaited)
        self.phase = SETUP
        self._wait(tickets, now, self.timeouts.reply)
        return plan.data

    def _subscribed(self, error: Exception | None, now: float) -> bytes:
        if error is not None:
            if not isinstance(error, CallGone):
                self._fail(error)
            return self._finish(now)
        channel = self.proto.channel
        number = channel.get("Caller-Destination-Number") or channel.get("Channel-Destination-Number")
        flowset = self.flows()
        flow = flowset.route(number)
        if flow is None:
            log.warning("call=%s flow=- destination %s: no flow serves it, hanging up with %s",
                        self.proto.uuid, number, UNROUTED_CAUSE)
            if self.metrics is not None:
                self.metrics.call_ended("-", CallResult.UNROUTED)
            return self._hang_up(UNROUTED_CAUSE, now)
        self.flow_name = flow.name
        options = dict(self.run_options or {"trace": False}, channel=channel, uuid=self.proto.uuid,
                       on_step=self.metrics.step if self.metrics is not None else None,
                       on_attempt=self.metrics.attempt if self.metrics is not None else None)
        saved = channel.variable(checkpoint.VARIABLE) if self.failover else None
        command = failover.resume(self, saved, flowset, flow, options) if saved else None
        if self.run is None:
            self.run = FlowRun(flow, flows=flowset, **options)
            command = self.run.start()
        self.phase = FLOW
        self.core = channel.get("Core-UUID")
        first = self._send(command, now)
        if self.proto.control != "full" or self.phase != FLOW:  # api needs `socket … full`
            return first
        # after the first step in the same write, so it leaves as soon as it would without
        # them, and never waited for: their answers come while that step runs
        asked = self.hosts.begin(channel, flowset, flow, self.proto, now)
        self._asking = bool(asked)
        return first + asked

    def _send(self, command: Effect | None, now: float) -> bytes:
        """The run's next command(s): one write, an HTTP request, or the end of the flow."""
        run = self.run
        batch, self._then, self._request, direct = collect(run, command, self.before,  # type: ignore[arg-type]
                                                           partial(wire.set_by_api, self.proto))
        if not batch and not direct:
            if self._request is not None:
                return self._ask(now)
            return self._flow_over(now)
        proto, tickets = self.proto, []
        # first on the wire: its reply comes first
        prepared = [failover.checkpoint_command(self, batch[-1] if batch else direct[-1][0])]
        set_tickets = [proto.command(data) for _, data in direct]
        prepared += [data for _, data in direct]
        if not batch:   # nothing but sets: go on once FreeSWITCH has said +OK to them
            self._last_app = "set"
            self._wait(set_tickets, now, self.timeouts.reply)
            return b"".join(prepared)
        for command in batch:
            try:
                if not self.hosts.has(self.core, command.app):
                    raise UnknownApplication(f"FreeSWITCH host {self.proto.channel.get('FreeSWITCH-Hostname')} "
                                             f"(Core-UUID {self.core}) has no application {command.app!r} "
                                             "(api show application): not sent, it would hang the caller up")
                data, ticket = wire.sendmsg(proto, command.app, command.arg, alone=not tickets)
            except (UnsafeValue, UnknownApplication) as exc:  # refused before a byte: the rest goes anyway
                self._refused = kept(exc)
                unsent = len(batch) - len(tickets)
                del run.executed[len(run.executed) - unsent:]    # the trace says what was sent
                break
            prepared.append(data)
            tickets.append(ticket)
        if not tickets:
            error, self._refused = self._refused, None
            return b"".join(prepared) + self._step_done(None, error, now)
        last = batch[len(tickets) - 1]
        self._last_app = last.app
        timeouts = self.timeouts
        final = last.timeout
        if self._refused is not None:  # what went out before it completes at once
            final = timeouts.reply
        elif final is None:
            final = timeouts.completion(last.app)
        self._wait(set_tickets + tickets, now, timeouts.reply, final)
        return b"".join(prepared)

    def _step_done(self, result: Any, error: Exception | None, now: float) -> bytes:
        run = self.run
        if error is None and self._last_app == "hangup":  # FreeSWITCH ran the flow's own hangup
            self.hung_up = True
        if isinstance(error, CallGone):
            if not isinstance(self.error, ProtocolError):  # garbage is an error, not a hangup
                run.caller_gone(error.cause)  # type: ignore[union-attr]
            return self._flow_over(now)
        if self._then == "http":
            if error is not None:  # the set-up before the request failed: the request never goes
                self._request = None
                return self._send(run.failed(error), now)  # type: ignore[union-attr]
            return self._ask(now)
        if self._then == "answer":  # the hold prompt has stopped: the step reads the answer
            answer, self._answer, self._then = self._answer, None, "resume"
            if error is not None:
                log.info("call=%s flow=%s hold prompt: %s", self.proto.uuid, self.flow_name, error)
            return self._send(run.resume(answer), now)  # type: ignore[union-attr]
        if self._then != "resume":
            return self._flow_over(now)
        if error is not None:
            return self._send(run.failed(error), now)  # type: ignore[union-attr]
        return self._send(run.resume(result), now)  # type: ignore[union-attr]

    def _flow_over(self, now: float) -> bytes:
        if self.metrics is not None and self.run is not None:
            self.metrics.call_ended(self.flow_name, self.run.result or CallResult.ERROR)
        if self._then == "exit" and self.proto.gone is None:
            self.released = True
            self.phase = RELEASE
            cleared = failover.checkpoint_command(self, Execute("exit"))
            data = commands.exit()
            self._wait([self.proto.command(data)], now, self.timeouts.reply)
            return cleared + data
        return self._finish(now)

    def _finish(self, now: float) -> bytes:
        if self.must_hang_up and self.proto.channel is not None:
            return self._hang_up("NORMAL_CLEARING", now)
        return self._drain(now)

    def _hang_up(self, cause: str, now: float) -> bytes:
        self.phase = HANGUP
        data, ticket = wire.sendmsg(self.proto, "hangup", cause)
        self._wait([ticket], now, self.timeouts.reply)
        return data

    def _reported(self) -> bool:
        """Nothing more a flow call needs to read: FreeSWITCH has said the call is over
        (CHANNEL_HANGUP, with its cause: what follows it is not read, see
        :data:`~flowengine.call.lifecycle.UNREAD_EVENTS`), or the socket is done."""
        return self.proto.finished or self.proto.hangup_event

    def _drain(self, now: float) -> bytes:
        self._waiting = []
        if self._reported() or self.proto.channel is None:  # no call was ever set up
            self.phase = CLOSED
            return b""
        self.phase = DRAIN
        self.deadline = now + self.timeouts.drain
        return b""

    def _fail(self, error: Exception) -> None:
        """An error that ends the call (not the caller hanging up): logged once, kept."""
        if self.error is not None:
            return
        self.error = kept(error)  # type: ignore[assignment]  # for the summary, not re-raised
        uuid = self.proto.uuid or "-"
        if isinstance(error, ProtocolError):
            self.outcome = f"ProtocolError: {error}"
            server_log.warning("call %s from %s ended on malformed input: %s", uuid, self.peer, error)
            if self.metrics is not None:
                self.metrics.protocol_errors.inc()
        else:
            self.outcome = f"{type(error).__name__}: {error}"
            server_log.warning("call %s from %s ended on error: %s", uuid, self.peer, self.outcome)

