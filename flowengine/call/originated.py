"""A call FreeSWITCH originated for ``run.py originate`` or ``POST /calls``: routed by the
token it carries (:mod:`flowengine.runtime.call_token`, :mod:`.routing`), and told how its
flow ended (:class:`Result`).

The token is honoured only on a call FreeSWITCH itself placed (``Call-Direction:
outbound``: the A-leg originate creates, switch_ivr_originate.c; a caller's call is
``inbound``), signed with this engine's key, for this very channel, and not expired; any
other call that carries one is routed by its destination number as usual, and the refusal
is logged (a caller cannot choose a flow or its variables by carrying a variable).

It routes the channel once. The engine marks the channel with its first command
(:data:`~flowengine.runtime.call_token.ROUTED_VARIABLE`, :meth:`Result.mark`), and sets its
result (:data:`~flowengine.runtime.call_token.RESULT_VARIABLE`) when the flow ends: a call
its flow transferred to a number the dialplan sends to the engine again, or one transferred
away in the middle of its flow (an agent's blind transfer of a bridge) and sent back, brings
the same channel, token and all; it is routed by its new number. Nothing waives the mark or
the expiry: an originated call runs its socket inline (``&socket(…)``, the originate's only
application), so when its engine goes the channel has no dialplan left and hangs up; no other
host takes it over, and a checkpoint on the channel says nothing about the token.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..esl import OutboundProtocol, commands
from ..flows.effects import Execute
from ..flows.flowset import FlowSet
from ..flows.model import Flow
from ..flows.params import param_problems
from ..quoting.api import setvar_args
from ..quoting.logfield import field
from ..runtime import call_token
from ..runtime.call_token import Refused, TokenRefused
from ..runtime.interpreter import FlowRun
from ..runtime.result import CallResult

log = logging.getLogger("flowengine.flow")


def ticket_for(
    channel: Any,
    uuid: str | None,
    key: bytes | None,
    flowset: FlowSet,
    now: float | None = None,
) -> call_token.Ticket | None:
    """The ticket of a call whose token may route it; None (logged when a token was
    there and refused) for every other call: one whose flow has run already (its result is
    on the channel), and one whose token names a flow that does not say ``direction:
    outbound`` (or ``both``): a flow written for callers never runs with variables an
    originate request chose."""
    token = channel.variable(call_token.VARIABLE)
    if not token:
        return None
    when = time.time() if now is None else now
    try:
        if channel.get("Call-Direction") != "outbound":
            raise TokenRefused(Refused.DIRECTION, f"Call-Direction is {field(channel.get('Call-Direction'))}")
        ended = channel.variable(call_token.RESULT_VARIABLE)
        if ended:
            raise TokenRefused(Refused.ROUTED, f"its flow ended already ({call_token.RESULT_VARIABLE} {field(ended)})")
        routed = channel.variable(call_token.ROUTED_VARIABLE)
        if routed:
            raise TokenRefused(
                Refused.ROUTED, f"it was routed by it already ({call_token.ROUTED_VARIABLE} {field(routed)})"
            )
        ticket = call_token.read(token, key, uuid or "", when)
        flow = flowset.flows.get(ticket.flow)
        if flow is not None and not flow.originated:
            raise TokenRefused(Refused.FLOW, f"flow {field(flow.name)} is direction: {flow.direction}")
        return ticket
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
    """The ticket's variables the run takes: the flow's declared ``params:`` (an outbound
    flow's variables, as a ``call`` step gives them); a name it does not declare, or one of
    its own ``vars:`` (the author's), is left out. What does not fit is logged (the issuer
    checked them only when it knew the flows: flowengine/originate/params.py)."""
    kept = {name: value for name, value in ticket.vars.items() if name in flow.params and name not in flow.vars}
    problems = [p.message for p in param_problems(flow.name, flow.params, ticket.vars)]
    problems += [f"{name!r} is the flow's own (vars:)" for name in sorted(set(ticket.vars) & set(flow.vars))]
    if problems:
        log.warning("call=%s flow=%s: its variables do not fit: %s", uuid, flow.name, "; ".join(problems)[:500])
    return kept


class Result:
    """What an originated call owns once routed by its token: the mark that it was
    (:meth:`mark`, with its first command), and its result, on its channel once, with the
    write that ends its run (the flow's own hangup going out as ``last``, or the run over)."""

    __slots__ = ("told",)

    def __init__(self) -> None:
        self.told = False

    @staticmethod
    def mark(proto: OutboundProtocol, flow: Flow) -> bytes:
        """``api uuid_setvar`` of :data:`~flowengine.runtime.call_token.ROUTED_VARIABLE` (the
        flow's name), to go ahead of the call's first command in its write and never waited
        for (mod_commands.c uuid_setvar_function answers at once): the token routes this
        channel no more (:func:`ticket_for`), whether or not its flow gets to write its
        result. Needs ``socket … full``, as :func:`result_line`; the engine's originate
        always asks for it."""
        if proto.control != "full" or not proto.uuid:
            return b""
        args = setvar_args(proto.uuid, call_token.ROUTED_VARIABLE, flow.name)
        if args is None:
            return b""
        data = commands.api(f"uuid_setvar {args}")
        proto.command(data)
        return data

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
