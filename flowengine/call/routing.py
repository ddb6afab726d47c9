"""Which flow a call runs, and the run it starts with.

A call is routed by the token of a call originated for a flow (:mod:`.originated`, when the
engine honours tokens), else by its destination number; a number no flow serves (and no
default flow) is hung up. A host's first call may have to wait for the host's application
list before it is routed (:meth:`~.host_view.HostView.first`). The run resumes the
checkpoint the channel brings when the call keeps them (:mod:`.failover`), else starts at
the flow's start.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from ..esl import OutboundProtocol, Ticket
from ..flows.effects import Effect
from ..flows.flowset import FlowSet
from ..flows.model import Flow
from ..flows.steps import attempts
from ..runtime import call_token, checkpoint
from ..runtime.interpreter import FlowRun
from ..runtime.result import CallResult
from .failover import Checkpointer
from .host_view import HostView
from .originated import flow_of, ticket_for

log = logging.getLogger("flowengine.flow")

#: the cause for a call to a number no flow serves (and no default flow)
UNROUTED_CAUSE = "UNALLOCATED_NUMBER"


class Route(NamedTuple):
    """Where a call goes: ``flow`` (None: no flow serves it, logged and counted), the
    ``ticket`` it was routed by (None: by its number), and what to ask its host first with
    the answer to wait for before its first command (``listed``; None: go at once)."""

    flow: Flow | None
    ticket: call_token.Ticket | None = None
    asked: bytes = b""
    listed: Ticket | None = None


def route(
    proto: OutboundProtocol,
    flowset: FlowSet,
    key: bytes | None,
    hosts: HostView,
    metrics: Any,
    now: float,
) -> Route:
    """The route of the call ``proto`` has connected; ``key``: the originate key (None: no
    token is honoured: :func:`.originated.ticket_for`)."""
    channel, uuid = proto.channel, proto.uuid
    assert channel is not None  # routed only once connect brought the channel's data
    number = channel.get("Caller-Destination-Number") or channel.get("Channel-Destination-Number")
    ticket = ticket_for(channel, uuid, key, flowset)
    flow = flow_of(ticket, flowset, uuid) if ticket is not None else flowset.route(number)
    if flow is None:
        log.warning(
            "call=%s flow=- destination %s: no flow serves it, hanging up with %s", uuid, number, UNROUTED_CAUSE
        )
        if metrics is not None:
            metrics.call_ended("-", CallResult.UNROUTED)
        return Route(None)
    asked, listed = hosts.first(channel, flowset, flow, proto, now)
    return Route(flow, ticket, asked, listed)


def start_run(
    channel: Any,
    uuid: str | None,
    flowset: FlowSet,
    flow: Flow,
    run_options: dict[str, Any] | None,
    metrics: Any,
    checkpoints: Checkpointer | None,
    given: dict[str, str] | None = None,
) -> tuple[FlowRun, Effect | None]:
    """The run of a call routed to ``flow``, and its first command: resumed from the
    checkpoint the channel brings when the call keeps them (its variables are there
    already), else from the flow's start, with ``given`` (an originated call's values,
    :func:`.originated.given`) in its root flow as call data (plain ``str``: the encoders
    judge every character of them as the caller's)."""
    options = dict(
        run_options or {"trace": False},
        channel=channel,
        uuid=uuid,
        on_step=metrics.step if metrics is not None else None,
        on_attempt=metrics.attempt if metrics is not None else None,
    )
    saved = channel.variable(checkpoint.VARIABLE) if checkpoints is not None else None
    if saved and checkpoints is not None:
        run, command = checkpoints.resume(saved, uuid, flowset, flow, options, metrics)
        if run is not None:
            return run, command
    run = FlowRun(flow, flows=flowset, **options)
    if given:
        run.frames[0].vars.update(given)
    if checkpoints is not None:  # each digit collection writes a variable of its own
        run.call_state[attempts.KEY] = attempts.Attempts()
    return run, run.start()
