"""A call FreeSWITCH originated for ``run.py originate`` or ``POST /calls``: routed by the
token it carries (:mod:`flowengine.runtime.call_token`, :mod:`.routing`), and told how its
flow ended (:class:`Result`).

The token is honoured only on a call FreeSWITCH itself placed (``Call-Direction:
outbound``: the A-leg originate creates, switch_ivr_originate.c; a caller's call is
``inbound``), signed with this engine's key, for this very channel, and not expired; any
other call that carries one is routed by its destination number as usual, and the refusal
is logged (a caller cannot choose a flow or its variables by carrying a variable).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..esl import OutboundProtocol, commands
from ..flows.effects import Execute
from ..flows.flowset import FlowSet
from ..flows.model import Flow
from ..quoting.api import setvar_args
from ..quoting.logfield import field
from ..runtime import call_token, checkpoint
from ..runtime.call_token import Refused, TokenRefused
from ..runtime.interpreter import FlowRun
from ..runtime.result import CallResult

log = logging.getLogger("flowengine.flow")


def ticket_for(channel: Any, uuid: str | None, key: bytes | None, now: float | None = None) -> call_token.Ticket | None:
    """The ticket of a call whose token may route it; None (logged when a token was
    there and refused) for every other call."""
    token = channel.variable(call_token.VARIABLE)
    if not token:
        return None
    when = time.time() if now is None else now
    try:
        if channel.get("Call-Direction") != "outbound":
            raise TokenRefused(Refused.DIRECTION, f"Call-Direction is {field(channel.get('Call-Direction'))}")
        try:
            return call_token.read(token, key, uuid or "", when)
        except TokenRefused as exc:
            # a call taken over from another host (failover) was routed by it there: its
            # expiry counted for the answer, not for the call's length
            resumed = channel.variable(checkpoint.VARIABLE)
            if exc.reason is not Refused.EXPIRED or not resumed:
                raise
            return call_token.read(token, key, uuid or "", 0.0)
    except TokenRefused as exc:
        log.warning(
            "call=%s: its %s is not honoured (%s): routed by its destination number",
            uuid,
            call_token.VARIABLE,
            exc,
        )
        return None


def flow_of(ticket: call_token.Ticket, flowset: FlowSet, uuid: str | None) -> Flow | None:
    """The flow the ticket names, in the set in force (None, logged: not loaded here)."""
    flow = flowset.flows.get(ticket.flow)
    if flow is None:
        log.warning("call=%s: originated for flow %s, which is not loaded here", uuid, field(ticket.flow))
    return flow


def given(flow: Flow, ticket: call_token.Ticket, uuid: str | None) -> dict[str, str]:
    """The ticket's variables the run takes: a flow that declares ``params:`` takes those
    alone (as a ``call`` step gives them); a flow's own ``vars:`` are the author's and stay
    so. What is left out is logged."""
    kept = {
        name: value
        for name, value in ticket.vars.items()
        if name not in flow.vars and (not flow.params or name in flow.params)
    }
    left = sorted(set(ticket.vars) - set(kept))
    if left:
        log.warning(
            "call=%s flow=%s: variables the flow does not take (its own vars, or no such param): %s",
            uuid,
            flow.name,
            ", ".join(left),
        )
    return kept


class Result:
    """What an originated call owns once routed by its token: its result goes on its
    channel once, with the write that ends its run (the flow's own hangup going out as
    ``last``, or the run over)."""

    __slots__ = ("told",)

    def __init__(self) -> None:
        self.told = False

    def line(self, proto: OutboundProtocol, run: FlowRun, last: Execute | None = None) -> bytes:
        """:func:`result_line` when the run ends with this write; b"" when it does not end
        yet, the call is gone, or the result is written already."""
        if self.told or proto.gone is not None:
            return b""
        if not run.ending and (last is None or last.app != "hangup"):
            return b""
        self.told = True
        return result_line(proto, run)


def result_line(proto: OutboundProtocol, run: FlowRun) -> bytes:
    """``api uuid_setvar`` of :data:`~flowengine.runtime.call_token.RESULT_VARIABLE` with how
    the run ended (``error`` once the flow's ``on_error`` runs), written ahead of its last
    command and never waited for (as the checkpoint's line: mod_commands.c
    uuid_setvar_function answers at once). Needs ``socket … full`` (api on a single-channel
    socket is refused)."""
    if proto.control != "full" or not proto.uuid:
        return b""
    # the flow's own hangup step going out: the run's result is set only once it has run
    result = CallResult.ERROR if run.in_error else run.result or CallResult.HANGUP
    args = setvar_args(proto.uuid, call_token.RESULT_VARIABLE, str(result))
    if args is None:
        return b""
    data = commands.api(f"uuid_setvar {args}")
    proto.command(data)
    return data
