"""Whether originate may start a flow with the variables given, judged before anything is
dialled (``run.py originate --flows``, ``POST /calls`` with the flows known).

Only a flow that says ``direction: outbound`` (or ``both``) may be started: a flow written
for callers (``inbound``, the default) is refused up front, as the engine would refuse the
call's token and route it by its number. Its variables are its declared ``params:``, checked
by the flow language's own rule (:func:`flowengine.flows.params.param_problems`, the one a
``call`` step is held to): no name it does not declare, every required one given, each of
its type. A flow that declares no ``params:`` takes no variables.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..flows.model import Flow
from ..flows.params import param_problems


def direction_problem(flow: Flow) -> str | None:
    """Why originate may not start ``flow`` (None: it may)."""
    if flow.originated:
        return None
    data = flow.source.data
    said = "says direction: inbound" if isinstance(data, dict) and "direction" in data else "is inbound (no direction)"
    return (
        f"flow {flow.name!r} {said}: originate may not start a flow callers dial; "
        "write direction: outbound in it (or both, if callers dial it too)"
    )


def params_problems(flow: Flow, values: Mapping[str, str]) -> list[str]:
    """What is wrong with starting ``flow`` with ``values``, one message each ([] when
    nothing): the flow's direction first (alone: nothing else matters then), then its params."""
    refused = direction_problem(flow)
    if refused is not None:
        return [refused]
    return [problem.message for problem in param_problems(flow.name, flow.params, values)]
