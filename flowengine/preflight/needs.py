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
    where: str  # file:line:col of the value in the flow file
    flow: str
    step: str


def flow_needs(flow: Flow) -> list[Located]:
    found = [Located(need, flow.source.where(need.path), flow.name, "-") for need in _top_level(flow)]
    for step in flow.steps.values():
        for need in KINDS[step.kind].needs(step):
            found.append(Located(need, flow.source.where(step.at + need.path), flow.name, step.name))
    return found


def _top_level(flow: Flow) -> list[Need]:
    """What the flow's own ``tts:`` and ``languages:`` need: the engines, each language's
    sound folder (a missing one makes every relative prompt FILE NOT FOUND,
    language_missing) and say module (a missing one says nothing)."""
    needs = []
    if flow.tts.get("engine"):
        needs.append(Need(NeedKind.TTS_ENGINE, str(flow.tts["engine"]), ("tts", "engine")))
    for name, language in flow.languages.items():
        at = ("languages", name)
        if language.get("sound_prefix"):
            needs.append(Need(NeedKind.DIRECTORY, str(language["sound_prefix"]), at + ("sound_prefix",)))
        if language.get("say"):
            needs.append(Need(NeedKind.SAY_LANGUAGE, str(language["say"]).split(":", 1)[0], at + ("say",)))
        engine = (language.get("tts") or {}).get("engine")
        if engine:
            needs.append(Need(NeedKind.TTS_ENGINE, str(engine), at + ("tts", "engine")))
    return needs


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
                called = KINDS[step.kind].calls(step)
                if called is not None and called.flow in flowset.flows:
                    todo.append(flowset.flows[called.flow])
        found = tuple(needs)
        flow.__dict__["_application_needs"] = found
    return found
