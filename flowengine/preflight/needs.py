"""What a flow set needs from the FreeSWITCH host that runs it, each need with its place.

Every step kind declares its needs (``StepKind.needs``, see
:mod:`flowengine.flows.steps.kind`); here they are gathered, with the flow file's
``file:line:col`` of each, once per flow set (a reload makes a new set, gathered anew).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..flows.flowset import FlowSet
from ..flows.model import Flow
from ..flows.steps import KINDS, Need, NeedKind


@dataclass(frozen=True)
class Located:
    """A need and where the flow asks for it: what a problem report names."""

    need: Need
    where: str      # file:line:col of the value in the flow file
    flow: str
    step: str


def flow_needs(flow: Flow) -> list[Located]:
    found = []
    for step in flow.steps.values():
        for need in KINDS[step.kind].needs(step):
            found.append(Located(need, flow.source.where(step.at + need.path), flow.name, step.name))
    return found


def set_needs(flowset: FlowSet) -> tuple[Located, ...]:
    """Every need of every flow of the set, in file order; worked out once per set."""
    found = flowset.__dict__.get("_preflight_needs")
    if found is None:
        found = tuple(n for name in sorted(flowset.flows) for n in flow_needs(flowset.flows[name]))
        flowset.__dict__["_preflight_needs"] = found
    return found


def application_needs(flow: Flow, flowset: FlowSet) -> tuple[Located, ...]:
    """The applications a call of ``flow`` (or a flow it calls) may run of the author's
    choosing (``execute``): what a host is asked when full preflight is off. Worked out
    once per flow."""
    found = flow.__dict__.get("_application_needs")
    if found is None:
        seen, todo, needs = set(), [flow], []
        while todo:
            current = todo.pop()
            if current.name in seen:
                continue
            seen.add(current.name)
            needs += [n for n in flow_needs(current) if n.need.kind is NeedKind.APPLICATION]
            for step in current.steps.values():
                if step.kind == "call" and step.spec["call"]["flow"] in flowset.flows:
                    todo.append(flowset.flows[step.spec["call"]["flow"]])
        found = tuple(needs)
        flow.__dict__["_application_needs"] = found
    return found
