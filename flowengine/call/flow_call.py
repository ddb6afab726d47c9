"""One flow call, from ``connect`` to the socket's close, without any I/O.

:class:`FlowCall` is a :class:`~.connection.CallConnection` that runs a flow: routed by
its destination number or an originated call's token (:mod:`.routing`), each step one
write (:mod:`.batching`) whose last answer resumes the run. What only some calls need is
an object the call owns from when it is needed: an HTTP request in flight is its
:class:`~.http_wait.PendingRequest` (the driver's side of it is :class:`~.http_call.HttpCall`'s),
failover its :class:`~.failover.Checkpointer`, an originated call's result its
:class:`~.originated.Result`. What every call of a server shares is one
:class:`~.settings.CallSettings`. The server, flow tests and
``run.py simulate`` run this same object (docs/architecture.md, "A call without I/O").
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import partial
from typing import Any, Unpack

from ..errors import CallGone, ProtocolError
from ..esl import commands
from ..flows.effects import Effect, Execute
from ..flows.flowset import FlowSet
from ..preflight.hosts import Hosts
from ..runtime.result import CallResult
from .batching import collect, write
from .command_forms import set_by_api
from .connection import CLOSED, FLOW
from .failover import Checkpointer
from .host_view import HostView
from .http_call import HttpCall
from .http_wait import PendingRequest
from .lifecycle import Timeouts
from .originated import Result, given
from .phases import Cue, Then
from .routing import UNROUTED_CAUSE, route, start_run
from .settings import CallSettings, Options, shared

log = logging.getLogger("flowengine.flow")

# module names for what follows a write: read at every step (see .connection for the phases')
RESUME, EXIT, HTTP, ANSWER = Then.RESUME, Then.EXIT, Then.HTTP, Then.ANSWER
ROUTED, EXITED, HANDED_OVER = Cue.ROUTED, Cue.EXITED, Cue.HANDED_OVER


class FlowCall(HttpCall):
    """A call that runs a flow. Its arguments but ``hosts`` and ``peer`` are the same for
    every call of a server: they are kept once for all (:class:`~.settings.CallSettings`
    says what each is); ``hosts`` is what the call asks of its host (the server gives each
    peer its own)."""

    # one per call, thousands at once (and HttpCall's, CallConnection's)
    __slots__ = ("hosts", "core", "_asking", "_checkpoints", "_origin")

    def __init__(
        self,
        flows: Callable[[], FlowSet],
        timeouts: Timeouts,
        *,
        hosts: HostView | None = None,
        peer: str = "-",
        **options: Unpack[Options],
    ) -> None:
        settings = shared(CallSettings(flows, timeouts, **options))
        super().__init__(settings, peer)
        self.hosts: HostView = hosts if hosts is not None else Hosts()  # the server shares one
        self.core: str | None = None  # the FreeSWITCH host's Core-UUID
        self._asking = False  # this call carries questions to its host (preflight)
        self._checkpoints = Checkpointer(settings.failover_key) if settings.failover else None
        self._origin: Result | None = None  # what a call routed by its token owns

    # -- what the driver calls ------------------------------------------------------------
    def receive(self, data: bytes, now: float) -> bytes:
        """Bytes read from the socket (``b""``: FreeSWITCH closed it)."""
        if self.phase is CLOSED:
            return b""
        out = super().receive(data, now)
        if self._asking:  # the host's next questions go out once these are answered
            asked, self._asking = self.hosts.more(self.core, self.proto, now, may_ask=self.phase is FLOW)
            out += asked
        return out

    def hand_over(self) -> bool:
        """Shutdown with failover: let the call go with its checkpoint in place (the driver
        closes the socket; FreeSWITCH runs the dialplan's next ``socket``). Only a call in
        its flow whose checkpoint is written and that waits on no HTTP request (its
        request would be made twice)."""
        checkpoints = self._checkpoints
        if self.phase is not FLOW or checkpoints is None or self.awaiting is not None:
            return False
        if not checkpoints.hand_over(self.proto, self.run, self.flow_name):
            return False
        self.released = True
        self.outcome = "handed over"
        self._move(HANDED_OVER)
        return True

    # -- the flow -----------------------------------------------------------------------------
    def _routed(self, now: float) -> bytes:
        proto, settings = self.proto, self.settings
        flowset = settings.flows()
        flow, ticket, asked, listed = route(proto, flowset, settings.originate_key, self.hosts, settings.metrics, now)
        if flow is None:
            return self._hang_up(UNROUTED_CAUSE, now)
        if listed is not None:  # an application the host may lack: its list first, then routed again
            self._wait.on([listed], now, settings.timeouts.reply, settings.timeouts.reply)
            return asked
        channel, uuid = proto.channel, proto.uuid
        assert channel is not None  # (route read it)
        self._origin = Result() if ticket is not None else None
        self.flow_name = flow.name
        values = given(flow, ticket, uuid) if ticket is not None else None
        self.run, command = start_run(
            channel, uuid, flowset, flow, settings.run_options, settings.metrics, self._checkpoints, values
        )
        self._move(ROUTED)
        core = channel.get("Core-UUID")
        self.core = sys.intern(core) if core else core  # one string for every call of a host
        # an originated call is marked as routed ahead of its first command, in its write
        marked = self._origin.mark(proto, flow) if self._origin is not None else b""
        first = marked + self._send(command, now)
        if proto.control != "full" or self.phase is not FLOW:  # api needs `socket … full`
            return first
        # after the first step in the same write, so it leaves as soon as it would without
        # them, and never waited for: their answers come while that step runs
        asked = self.hosts.begin(channel, flowset, flow, proto, now)
        self._asking = bool(asked)
        return first + asked

    def _send(self, command: Effect | None, now: float) -> bytes:
        """The run's next command(s): one write, an HTTP request, or the end of the flow."""
        run, wait = self.run, self._wait
        assert run is not None  # sent only once the call is routed
        batch, wait.then, request, direct = collect(run, command, self.settings.before, partial(set_by_api, self.proto))
        if request is not None:  # performed once the write before it is done (now: none)
            http = self._http = self._http or PendingRequest()
            http.queued = request
            if not batch and not direct:
                return http.ask(now, wait)
        elif not batch and not direct:
            return self._flow_over(now)
        # first on the wire: its reply comes first
        last = batch[-1] if batch else direct[-1][0]
        head = self._told(last) + self._checkpoint(last)
        data, tickets, last_app, span, refused = write(
            self.proto, run, batch, direct, self.hosts, self.core, self.settings.timeouts
        )
        if not wait.wrote(tickets, last_app, span, refused, now, self.settings.timeouts.reply):  # every one refused
            return head + data + self._step_done(None, wait.take_refused(), now)
        return head + data

    def _step_done(self, result: Any, error: Exception | None, now: float) -> bytes:
        run, then = self.run, self._wait.then
        assert run is not None  # a step is the run's
        if error is None and self._wait.last_app == "hangup":  # FreeSWITCH ran the flow's own hangup
            self.hung_up = True
        if isinstance(error, CallGone):
            return self._gone(error.cause, now)
        if then is HTTP:  # the write before a queued request is done: the request goes, or never
            assert self._http is not None
            if error is None:
                return self._http.ask(now, self._wait)
            self._http.queued = None
            return self._send(run.failed(error), now)
        if then is ANSWER:  # the hold prompt has stopped: the step reads the answer
            if error is not None:
                log.info("call=%s flow=%s hold prompt: %s", self.proto.uuid, self.flow_name, error)
            assert self._http is not None  # ANSWER follows only an answer that waited for its hold prompt
            return self._send(run.resume(self._http.take_answer(self._wait)), now)
        if then is not RESUME:
            return self._flow_over(now)
        if error is not None:
            return self._send(run.failed(error), now)
        return self._send(run.resume(result), now)

    def _gone(self, cause: str, now: float) -> bytes:
        """The caller hung up (or the socket closed) during the run: it ends now."""
        if not isinstance(self.error, ProtocolError):  # garbage is an error, not a hangup
            assert self.run is not None  # (routed)
            self.run.caller_gone(cause)
        return self._flow_over(now)

    def _checkpoint(self, last: Execute) -> bytes:
        """The failover checkpoint's line for a write ending in ``last`` (b"": none)."""
        if self._checkpoints is None:
            return b""
        assert self.run is not None  # a write of the run's, or its exit
        return self._checkpoints.command(self.proto, self.run, self.flow_name, last)

    def _told(self, last: Execute | None = None) -> bytes:
        """An originated call's result on its channel (:meth:`.originated.Result.line`)."""
        origin, run = self._origin, self.run
        return origin.line(self.proto, run, last) if origin is not None and run is not None else b""

    def _flow_over(self, now: float) -> bytes:
        if self.settings.metrics is not None and self.run is not None:
            self.settings.metrics.call_ended(self.flow_name, self.run.result or CallResult.ERROR)
        told = self._told()  # an originated call's result, ahead of what ends the call
        if self._wait.then is EXIT and self.proto.gone is None:
            self.released = True
            self._move(EXITED)
            cleared = self._checkpoint(Execute("exit"))
            data = commands.exit()
            self._wait.on([self.proto.command(data)], now, self.settings.timeouts.reply, self.settings.timeouts.reply)
            return told + cleared + data
        return told + self._finish(now)
