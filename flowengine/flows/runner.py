"""The gevent side of a flow: route the call, then shuttle commands between FlowRun and the session."""

from __future__ import annotations

import logging
from typing import Callable

from ..errors import CallGone, CommandFailed, CommandTimeout, UnsafeValue
from ..session import OutboundSession
from ..session.base import CallSession
from .flowset import FlowSet
from .batching import collect
from .interpreter import Execute, FlowRun

log = logging.getLogger("flowengine.flow")

#: the cause for a call to a number no flow serves (and no default flow)
UNROUTED_CAUSE = "UNALLOCATED_NUMBER"


def drive(session: CallSession, run: FlowRun,
          before: Callable[[FlowRun, Execute], None] | None = None) -> None:
    """Run ``run`` on the call until it ends, hands the call off, or the caller hangs up.

    ``before`` sees each command as it is about to be sent (flow tests use it to let a
    scripted caller know which step the flow is in).
    """
    command = run.start()
    while True:
        batch, after = collect(run, command, before)
        done = _run(session, run, batch) if batch else None
        if done is False:
            return
        if after == "exit":
            session.release()
            return
        if after == "end":
            return
        command = run.failed(done) if isinstance(done, Exception) else run.resume(done)


def _run(session: CallSession, run: FlowRun, batch: list[Execute]):
    """Send ``batch`` in one write; the last one's completion, the error to hand the flow,
    or False when the call is gone (the run is told)."""
    try:
        if len(batch) == 1:
            only = batch[0]
            return session.execute(only.app, only.arg, timeout=only.timeout)
        return session.execute_many([(c.app, c.arg) for c in batch], timeout=batch[-1].timeout)
    except CallGone as gone:
        run.gone(gone.cause)
        return False
    except (CommandTimeout, CommandFailed, UnsafeValue) as exc:
        return exc

def flow_handler(flows: Callable[[], FlowSet], metrics=None) -> Callable[[OutboundSession], None]:
    """The server's call handler: ``flows()`` gives the flow set in force for a new call
    (the call keeps it to the end, whatever a reload does); ``metrics`` is told each step
    and how each call ended."""
    def handle(session: OutboundSession) -> None:
        number = _destination(session.channel)  # no local for the channel: the call lets go of it
        flowset = flows()
        flow = flowset.route(number)
        if flow is None:
            log.warning("call=%s flow=- destination %s: no flow serves it, hanging up with %s",
                        session.uuid, number, UNROUTED_CAUSE)
            if metrics is not None:
                metrics.call_ended("-", "unrouted")
            session.hangup(UNROUTED_CAUSE)
            return
        run = FlowRun(flow, flows=flowset, channel=session.channel, uuid=session.uuid, trace=False,
                      on_step=metrics.step if metrics is not None else None)
        try:
            drive(session, run)
        finally:
            if metrics is not None:
                metrics.call_ended(flow.name, run.result or "error")
    return handle


def _destination(channel) -> str | None:
    return channel.get("Caller-Destination-Number") or channel.get("Channel-Destination-Number")
