"""A flow test case (or ``run.py simulate``) started as an outbound call: the call
``run.py originate --flow NAME --var …`` or ``POST /calls`` would start.

The scripted channel is made the one originate creates, as originate_to_socket_session
recorded it: ``Call-Direction: outbound`` (the A-leg switch_ivr_originate.c creates), already
answered when the socket connects (``ignore_early_media``), with the token
(:mod:`flowengine.runtime.call_token`) in its variables, signed with a key made for this one
run and given to the :class:`~flowengine.call.flow_call.FlowCall` as its ``originate_key``.
So the engine routes the case by the path a started call takes (call/originated.py): the
token read, its variables given to the flow as its ``params:``, as call data.

What originate refuses before anything is dialled is an error of the case: a flow callers
dial (no ``direction: outbound`` or ``both``), variables that do not fit its ``params:``
(flowengine/originate/params.py, the rule ``run.py originate --flows`` applies).
"""

from __future__ import annotations

import argparse
import difflib
import secrets
import time
from collections.abc import Mapping
from typing import Any

from ..flows.flowset import FlowSet
from ..flows.model import Flow
from ..flows.params import param_problems
from ..flows.source import Source
from ..originate.params import direction_problem
from ..runtime import call_token
from .channel import originated
from .scripted_events import ChannelEvents

#: what a case's ``outbound:`` holds
OUTBOUND_KEYS = ("flow", "vars")
#: how long a case's token is honoured: longer than any simulated call takes to run
TOKEN_SECONDS = 3600.0
#: variables originate's A-leg carries (recorded)
_VARIABLES = {"direction": "outbound", "is_outbound": "true", "endpoint_disposition": "ANSWER"}
_SOME_UUID = "d9ef0471-ee7e-4b58-80d4-c55ef31290f7"


def check_outbound(source: Source, at: tuple, case: Mapping[str, Any]) -> None:
    """The ``outbound:`` of the case ``case`` (at ``at``) as written: ``{flow: NAME, vars:
    {NAME: VALUE, …}}``, the values as a token carries them (each as
    :func:`~flowengine.runtime.call_token.check_vars` takes it, all in one token); a
    scripted call, never a replay."""
    name, spec, where = case["name"], case["outbound"], at + ("outbound",)
    if "replay" in case:
        raise source.error(
            where, f"case {name!r}: a replay is the call as recorded; outbound: goes with a scripted call"
        )
    if not isinstance(spec, dict):
        raise source.error(where, f"case {name!r}: outbound: is {{flow: NAME, vars: {{NAME: VALUE}}}}")
    for key in spec:
        if key not in OUTBOUND_KEYS:
            close = difflib.get_close_matches(str(key), OUTBOUND_KEYS, n=1)
            raise source.error(
                where + (key,),
                f"case {name!r}: unknown outbound key {key!r}"
                + (f" (did you mean {close[0]!r}?)" if close else "")
                + f"; known: {', '.join(OUTBOUND_KEYS)}",
            )
    flow = spec.get("flow")
    if not isinstance(flow, str) or not call_token.NAME.fullmatch(flow):
        raise source.error(where + ("flow",), f"case {name!r}: outbound: flow: is the name of the flow the call runs")
    values = spec.get("vars", {})
    if not isinstance(values, dict):
        raise source.error(where + ("vars",), f"case {name!r}: outbound: vars: is a mapping of the flow's params")
    try:  # as it would travel (TokenTooBig too), for a channel UUID of FreeSWITCH's length
        call_token.issue(b"k" * 32, flow, values, _SOME_UUID, 0)
    except ValueError as exc:
        raise source.error(where + ("vars",), f"case {name!r}: outbound: {exc}") from None


def var_argument(text: str) -> tuple[str, str]:
    """``run.py simulate --var NAME=VALUE``, read as ``run.py originate`` reads it."""
    name, eq, value = text.partition("=")
    if not eq or not call_token.NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(f"--var wants NAME=VALUE (NAME: letters, digits, _), not {text[:60]!r}")
    return name, value


def started_flow(flows: FlowSet, spec: Mapping[str, Any]) -> tuple[Flow | None, list[tuple[tuple, str]]]:
    """The flow ``outbound:`` names and what originate would refuse of it, each with where in
    ``outbound:`` it is written: a flow not loaded (with the likely one), a flow callers dial,
    variables its ``params:`` do not take (:func:`~flowengine.flows.params.param_problems`)."""
    name = str(spec["flow"])
    flow = flows.flows.get(name)
    if flow is None:
        started = sorted(n for n, f in flows.flows.items() if f.originated)
        close = difflib.get_close_matches(name, started, n=1)
        return None, [
            (
                ("flow",),
                f"no flow {name!r} here"
                + (f" (did you mean {close[0]!r}?)" if close else "")
                + f"; flows originate may start: {', '.join(started) or 'none (no flow says direction: outbound)'}",
            )
        ]
    refused = direction_problem(flow)
    if refused is not None:
        return flow, [(("flow",), refused)]
    try:  # (a case's were checked as its file loaded; simulate's --var are not)
        values = call_token.check_vars(spec.get("vars") or {})
        call_token.issue(b"k" * 32, name, values, _SOME_UUID, 0)
    except ValueError as exc:
        return flow, [(("vars",), str(exc))]
    return flow, [
        (("vars",) + ((problem.name,) if problem.name is not None else ()), problem.message)
        for problem in param_problems(flow.name, flow.params, values)
    ]


def start_outbound(peer: ChannelEvents, flow: str, values: Mapping[str, object]) -> bytes:
    """Make the scripted FreeSWITCH ``peer`` the call originate starts for ``flow`` with
    ``values``; the key to give the FlowCall as its ``originate_key`` (made for this call:
    nothing else is signed with it). :class:`~flowengine.runtime.call_token.TokenTooBig`
    when the values do not fit in one token, as originate would refuse them."""
    key = secrets.token_bytes(32)
    token = call_token.issue(key, flow, values, peer.uuid, time.time() + TOKEN_SECONDS)
    for name, value in _VARIABLES.items():
        peer.vars[name] = value
    peer.vars[call_token.VARIABLE] = token
    # the recorded channel's own variables, but those the call now has
    peer._channel = [
        (k, v) for k, v in originated(peer._channel) if not (k.startswith("variable_") and k[9:] in peer.vars)
    ]
    return key
