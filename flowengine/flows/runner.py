"""The gevent side of a flow: route the call, then shuttle commands between FlowRun and the session."""

from __future__ import annotations

import logging
from typing import Callable

from ..errors import CallGone, CommandFailed, CommandTimeout, UnsafeValue
from ..session import OutboundSession
from .flowset import FlowSet
from .interpreter import Execute, Exit, FlowRun

log = logging.getLogger("flowengine.flow")

#: the cause for a call to a number no flow serves (and no default flow)
UNROUTED_CAUSE = "UNALLOCATED_NUMBER"


def drive(session: OutboundSession, run: FlowRun,
          before: Callable[[FlowRun, Execute], None] | None = None) -> None:
    """Run ``run`` on the call until it ends, hands the call off, or the caller hangs up.

    ``before`` sees each command as it is about to be sent (flow tests use it to let a
    scripted caller know which step the flow is in).
    """
    command = run.start()
    while command is not None:
        if isinstance(command, Exit):
            session.release()
            return
        assert isinstance(command, Execute)
        if before is not None:
            before(run, command)
        try:
            done = session.execute(command.app, command.arg, timeout=command.timeout)
        except CallGone as gone:
            run.gone(gone.cause)
            return
        except (CommandTimeout, CommandFailed, UnsafeValue) as exc:
            command = run.failed(exc)
            continue
        command = run.resume(done)


def flow_handler(flows: Callable[[], FlowSet]) -> Callable[[OutboundSession], None]:
    """The server's call handler: ``flows()`` gives the flow set in force for a new call."""
    def handle(session: OutboundSession) -> None:
        channel = session.channel
        number = channel.get("Caller-Destination-Number") or channel.get("Channel-Destination-Number")
        flowset = flows()
        flow = flowset.route(number)
        if flow is None:
            log.warning("call=%s flow=- destination %s: no flow serves it, hanging up with %s",
                        session.uuid, number, UNROUTED_CAUSE)
            session.hangup(UNROUTED_CAUSE)
            return
        drive(session, FlowRun(flow, flows=flowset, channel=channel, uuid=session.uuid))
    return handle
