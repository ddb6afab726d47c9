"""The variables a call is started with, against the flow's declared ``params:``: checked as
a ``call`` step's are when the flow set loads (flowengine/flows/flowset.py): no parameter the
flow does not declare, every required one given, each of its type. A flow that declares no
``params:`` takes any variable (they are call data all the same).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..flows.model import Flow

_TYPES = {
    "digits": re.compile(r"[0-9*#+]+"),
    "number": re.compile(r"-?\d+(\.\d+)?"),
    "boolean": re.compile(r"true|false"),
}


def params_problems(flow: Flow, values: Mapping[str, str]) -> list[str]:
    """What is wrong with ``values`` for ``flow``, one message each ([] when nothing)."""
    if not flow.params:
        return []
    problems = [f"flow {flow.name!r} has no parameter {name!r}" for name in values if name not in flow.params]
    for name, param in flow.params.items():
        if name not in values:
            if param.get("required"):
                problems.append(f"flow {flow.name!r} needs parameter {name!r}")
            continue
        kind = str(param.get("type", "string"))
        pattern = _TYPES.get(kind)
        if pattern is not None and not pattern.fullmatch(values[name]):
            problems.append(f"parameter {name!r} of flow {flow.name!r} is {kind}, not {values[name][:40]!r}")
    return problems
