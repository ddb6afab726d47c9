"""The server's flow calls: each accepted connection handed to the event loop as an
:class:`~.evented.EventedCall` running a :class:`~flowengine.call.flow_call.FlowCall`, no
greenlet of its own (why: docs/architecture.md, "A call on the event loop").

:class:`FlowCalls` starts each, holds the set of those running (shutdown hangs them up or
hands them over) and, as each closes, tells the server (``ended``) and logs its summary line.
It also says which step a call runs, by its channel UUID (:meth:`FlowCalls.step_of`, for
``GET /calls/<id>``).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from ..call import Timeouts
from ..call.flow_call import FlowCall
from ..esl import Limits
from ..flows.flowset import FlowSet
from ..preflight.hosts import HOSTS
from .admission import Admission
from .call_log import log_call_end, log_idle_connection
from .evented import EventedCall

log = logging.getLogger("flowengine.server")


class FlowCalls:
    """The flow calls running on the loop (:attr:`calls`). ``ended(peer, heard)``: a
    connection from ``peer`` has closed (``heard``: it sent something, a call)."""

    def __init__(
        self,
        flows: Callable[[], FlowSet] | None,
        admission: Admission,
        ended: Callable[[str, bool], None],
        *,
        limits: Limits,
        timeouts: Timeouts,
        event_format: str,
        recorder: Any = None,
        metrics: Any = None,
        http: Any = None,
        failover: bool = False,
        failover_key: bytes | None = None,
        originate_key: bytes | None = None,
    ) -> None:
        self.flows = flows
        self.admission = admission
        self.ended = ended
        self.limits = limits
        self.timeouts = timeouts
        self.event_format = event_format
        self.recorder = recorder
        self.metrics = metrics
        self.http = http
        self.failover = failover
        self.failover_key = failover_key
        self.originate_key = originate_key
        self.calls: set[EventedCall] = set()
        # the calls by channel UUID, for step_of: a call is filed once its UUID is known
        # (connect answered), the first time step_of looks after that; until then it waits
        # in _unfiled. Each call is in one of the two, once, until it closes.
        self._by_uuid: dict[str, EventedCall] = {}
        self._unfiled: dict[EventedCall, None] = {}

    def start(self, loop: Any, sock: Any, address: tuple, budget: Any) -> None:
        """In the hub: hand the socket to the loop; the call runs from its callbacks."""
        raw = socket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        # what this connection claims about its host concerns its own peer address only
        hosts = HOSTS.for_peer(address[0])
        assert self.flows is not None  # the server hands a socket here only when serving flows
        call = FlowCall(
            self.flows,
            self.timeouts,
            limits=self.limits,
            hosts=hosts,
            event_format=self.event_format,
            metrics=self.metrics,
            peer=address[0],
            failover=self.failover,
            failover_key=self.failover_key,
            originate_key=self.originate_key,
        )
        if self.metrics is not None:
            self.metrics.calls_active.inc()
        recording = self.recorder.call() if self.recorder is not None else None
        try:
            evented = EventedCall(
                loop,
                raw,
                call,
                recording=recording,
                on_close=self._closed,
                budget=budget,
                http=self.http,
            )
        except Exception:  # the accept loop runs this: it must go on for the next call
            log.exception("call from %s could not be started", address[0])
            raw.close()
            self.ended(address[0], False)
            return
        if not evented.closed:
            self.calls.add(evented)
            self._unfiled[evented] = None
            self.admission.pending.add(address[0], evented)

    def step_of(self, uuid: str) -> tuple[str, str | None] | None:
        """The flow and step (None: between steps, or ending) of the call on channel
        ``uuid`` running here (in this process); None when none runs here. The flow is the
        innermost one running (a called flow's own, as the flow map counts it). The calls
        whose UUID became known since the last look are filed first: each call is looked
        at once after its ``connect`` is answered, so a look costs no scan of every call."""
        evented = self._by_uuid.get(uuid)
        if evented is None and self._unfiled:
            for each in list(self._unfiled):
                known = each.call.proto.uuid
                if known is not None:
                    del self._unfiled[each]
                    self._by_uuid[known] = each  # the newest connection of a channel is the one running
            evented = self._by_uuid.get(uuid)
        run = evented.call.run if evented is not None else None
        if run is None:
            return None
        frame = run.stack.top
        return frame.flow.name, None if run.ending else frame.step

    def _closed(self, evented: EventedCall) -> None:
        self.calls.discard(evented)
        self.admission.pending.discard(evented)
        call = evented.call
        proto = call.proto
        self._unfiled.pop(evented, None)
        if proto.uuid is not None and self._by_uuid.get(proto.uuid) is evented:
            del self._by_uuid[proto.uuid]
        self.ended(call.peer, proto.heard)
        if proto.heard:
            log_call_end(proto.uuid, proto.channel, evented.started_at, proto.hangup_cause, proto.gone, call.outcome)
        else:
            log_idle_connection(call.peer)
