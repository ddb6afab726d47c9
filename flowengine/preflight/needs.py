"""What a flow set needs from the FreeSWITCH host that runs it, each need with its place.

Every step kind declares its needs (``StepKind.needs``, see
:mod:`flowengine.flows.steps.kind`); here they are gathered, with the flow file's
``file:line:col`` of each, once per flow set (a reload makes a new set, gathered anew).

A call's ``sound_prefix`` is the channel's until a ``language`` step sets one of its flow's
``languages:`` (flows/steps/language.py), and it stays set when the call goes into another
flow or comes back from one. So a relative prompt (or record folder) is checked under the
channel's prefix and under that of every language of the flows its flow is joined to by
``call`` steps, either way (:func:`call_groups`); a prompt written per language
(``files: {en: …, es: …}``) under its own language's (and, the default language's, under all
of them: a call in a language the mapping lacks hears it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..flows.flowset import FlowSet
from ..flows.model import Flow, Step
from ..flows.steps import KINDS, Need, NeedKind

#: the needs whose relative value FreeSWITCH resolves under the channel's sound_prefix
#: (switch_ivr_play_file, switch_ivr_record_file: ``sound_prefix`` when the path is not absolute)
_UNDER_PREFIX = (NeedKind.PROMPT, NeedKind.DIRECTORY)


@dataclass(frozen=True)
class Located:
    """A need and where the flow asks for it: what a problem report names.

    ``languages``: the (language, sound_prefix) pairs a relative path may be resolved
    under besides the channel's own; ``channel``: whether it may be resolved under the
    channel's own (not for a prompt written for one language other than the default)."""

    need: Need
    where: str  # file:line:col of the value in the flow file
    flow: str
    step: str
    languages: tuple[tuple[str, str], ...] = ()
    channel: bool = True


def flow_needs(flow: Flow, group: tuple[Flow, ...] = ()) -> list[Located]:
    """``flow``'s needs; ``group``: the flows a call of it may also run (:func:`call_groups`),
    whose ``languages:`` may set the prefix its prompts are played under."""
    group = group or (flow,)
    prefixes = _prefixes(group)
    stepped = [(step, need) for step in flow.steps.values() for need in KINDS[step.kind].needs(step)]
    says = any(n.kind is NeedKind.SAY_LANGUAGE for g in group for s in g.steps.values() for n in KINDS[s.kind].needs(s))
    found = [Located(need, flow.source.where(need.path), flow.name, "-") for need in _top_level(flow, says)]
    for step, need in stepped:
        where = flow.source.where(step.at + need.path)
        if need.kind in _UNDER_PREFIX and prefixes:
            languages, channel = _languages_of(step, need, flow, prefixes)
            found.append(Located(need, where, flow.name, step.name, languages, channel))
        else:
            found.append(Located(need, where, flow.name, step.name))
    return found


def _prefixes(group: tuple[Flow, ...]) -> dict[str, str]:
    """language -> sound_prefix of every language the group's flows declare (the first
    flow's first, as a language step of that flow would choose it)."""
    found: dict[str, str] = {}
    for flow in group:
        for name, language in flow.languages.items():
            prefix = (language or {}).get("sound_prefix") if isinstance(language, Mapping) else None
            if prefix and name not in found:
                found[str(name)] = str(prefix)
    return found


def _languages_of(
    step: Step, need: Need, flow: Flow, prefixes: dict[str, str]
) -> tuple[tuple[tuple[str, str], ...], bool]:
    """Where a relative path of ``step`` may be resolved: every language's prefix and the
    channel's; only its own language's for a value of a per-language mapping (texts) that
    is not the flow's default language's."""
    own = _own_language(step, need, flow)
    default = next(iter(flow.languages), None)
    if own is not None and own != default and own in prefixes:
        return ((own, prefixes[own]),), False
    return tuple(prefixes.items()), True


def _own_language(step: Step, need: Need, flow: Flow) -> str | None:
    """The language of a per-language mapping the need's value is in, if it is in one: a
    mapping in the step whose keys are all languages of the flow (flows/texts.py)."""
    node: Any = step.spec
    for key in need.path:
        if isinstance(node, Mapping):
            if node and isinstance(key, str) and key in flow.languages and all(k in flow.languages for k in node):
                return key
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            return None
    return None


def _top_level(flow: Flow, says: bool) -> list[Need]:
    """What the flow's own ``tts:`` and ``languages:`` need: the engines, each language's
    sound folder (a missing one makes every relative prompt FILE NOT FOUND,
    language_missing) and say module (a missing one says nothing) when a step of the call
    says something (``says``): a flow without say steps reads no say module."""
    needs = []
    if flow.tts.get("engine"):
        needs.append(Need(NeedKind.TTS_ENGINE, str(flow.tts["engine"]), ("tts", "engine")))
    for name, language in flow.languages.items():
        at = ("languages", name)
        if language.get("sound_prefix"):
            needs.append(Need(NeedKind.DIRECTORY, str(language["sound_prefix"]), at + ("sound_prefix",)))
        if says and language.get("say"):
            needs.append(Need(NeedKind.SAY_LANGUAGE, str(language["say"]).split(":", 1)[0], at + ("say",)))
        engine = (language.get("tts") or {}).get("engine")
        if engine:
            needs.append(Need(NeedKind.TTS_ENGINE, str(engine), at + ("tts", "engine")))
    return needs


def call_groups(flowset: FlowSet) -> dict[str, tuple[Flow, ...]]:
    """Each flow's group: the flows joined to it by ``call`` steps, calling or called, as
    far as they go (one call may run them all, and a language chosen in any of them holds
    in the others). The flow itself first; worked out once per set."""
    found = flowset.__dict__.get("_preflight_groups")
    if found is not None:
        return found
    links: dict[str, set[str]] = {name: set() for name in flowset.flows}
    for name, flow in flowset.flows.items():
        for step in flow.steps.values():
            called = KINDS[step.kind].calls(step)
            if called is not None and called.flow in flowset.flows and called.flow != name:
                links[name].add(called.flow)
                links[called.flow].add(name)
    found = {}
    for name in sorted(flowset.flows):
        if name in found:
            continue
        seen, todo = [name], [name]
        while todo:
            for other in sorted(links[todo.pop()]):
                if other not in seen:
                    seen.append(other)
                    todo.append(other)
        for member in seen:
            found[member] = tuple(flowset.flows[m] for m in [member] + [s for s in seen if s != member])
    flowset.__dict__["_preflight_groups"] = found
    return found


def set_needs(flowset: FlowSet) -> tuple[Located, ...]:
    """Every need of every flow of the set, in file order; worked out once per set."""
    found = flowset.__dict__.get("_preflight_needs")
    if found is None:
        groups = call_groups(flowset)
        found = tuple(n for name in sorted(flowset.flows) for n in flow_needs(flowset.flows[name], groups[name]))
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
