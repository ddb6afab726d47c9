"""Which ``${name}`` in a flow can hold call data: what ``--check`` judges before a step
hands a value to an application that takes none (:mod:`flowengine.quoting.applications`).

A name is the flow's literal text only when everything that gives it a value gives it the
author's text; everything else, and anything unsure, is call data. The rules, and why:
docs/security.md, "Which names --check counts as the author's".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from ..quoting.variables import variable_check
from .conditions import as_text

# a ${name} as the engine looks it up (templates._TEMPLATE's grammar) and an API call
_TEMPLATE = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_.+~-]*)(?::([^{}$:]{0,32})(?::([^{}$:]{0,32}))?"
    r"|\[([^{}$\]]{0,32})\])?\}"
)
_API = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*[ (]")
#: ``${…}`` looked at in one value, at most (a flow file is at most 1 MiB anyway)
MAX_REFERENCES = 1000
#: why a name nothing in the flow sets can hold call data
OUTSIDE = "the caller, the channel or FreeSWITCH gives it its value"


class Reference(NamedTuple):
    """One ``${…}`` in a value as written: where, the name (or the text, for a form the
    engine does not read), and whether it names a variable plainly (no slice, no index)."""

    start: int
    end: int
    name: str
    plain: bool


@dataclass(frozen=True)
class Judgement:
    """``literal``: the names only ever set to the author's text; ``why``: for a name the
    flow sets that is not one of them, what makes it call data."""

    literal: frozenset[str]
    why: dict[str, str] = field(default_factory=dict)

    def reason(self, name: str) -> str:
        return self.why.get(name, OUTSIDE)


def references(text: str) -> list[Reference]:
    """Every ``${…}`` in ``text`` except the author's API calls (whose own ``${…}`` are
    listed in turn); a ``${`` the engine cannot read as a name counts as one."""
    found: list[Reference] = []
    at = text.find("${")
    while at >= 0 and len(found) < MAX_REFERENCES:
        match = _TEMPLATE.match(text, at)
        if match:
            found.append(Reference(at, match.end(), match.group(1), match.lastindex == 1))
        elif not _API.match(text, at):
            end = text.find("}", at)
            end = len(text) if end < 0 else end + 1
            found.append(Reference(at, end, text[at : min(end, at + 40)], False))
        at = text.find("${", at + 2)
    return found


def call_data(text: str, judgement: Judgement) -> list[Reference]:
    """The ``${…}`` of ``text`` that can hold call data."""
    return [r for r in references(text) if not (r.plain and r.name in judgement.literal)]


def _kind(spec: dict) -> str | None:
    from .steps import KEYS

    kinds = {KEYS[key] for key in spec if key in KEYS}
    return kinds.pop() if len(kinds) == 1 else None


def _judge(flow: dict) -> Judgement:
    from .model import Step
    from .steps import KINDS

    top = flow.get("vars") or {}
    why: dict[str, str] = {}
    for name in flow.get("params") or {}:
        why[name] = "it is a parameter: a calling flow gives its value"
    for name in flow.get("channel_vars") or []:
        why.setdefault(name, "it is listed under channel_vars: the dialplan gives its value")
    from_steps: set[str] = set()
    for step_name, spec in (flow.get("steps") or {}).items():
        kind = _kind(spec) if isinstance(spec, dict) else None
        if kind is None:
            continue
        step = Step(step_name, kind, spec)
        assigned = KINDS[kind].assigns(step)  # flow variables, as the author wrote them
        for name, value in assigned.items():
            if "${" in as_text(value):
                why.setdefault(name, f"step '{step_name}' sets it from ${{…}}, which a failover restores as call data")
            else:
                from_steps.add(name)
        on_channel = dict.fromkeys(KINDS[kind].channel_sets(step))  # channel variables, in order
        for name in on_channel:
            why.setdefault(name, f"step '{step_name}' sets it on the channel, which reports it back as the channel's")
        for name in KINDS[kind].variables(step):
            if name not in assigned and name not in on_channel:
                why.setdefault(name, f"step '{step_name}' ({kind}) gives it what the call or FreeSWITCH answered")
    literal = (set(top) | from_steps) - set(why)
    # a top-level value naming call data is call data, and so is one naming that, …: each
    # name is taken out once, and tells the values that read it (linear in the references)
    readers: dict[str, list[str]] = {}
    todo: list[tuple[str, Reference]] = []
    for name in sorted(literal):
        value = top.get(name)
        if not isinstance(value, str):
            continue
        for ref in references(value):
            if ref.plain and ref.name in literal:
                readers.setdefault(ref.name, []).append(name)
            else:
                todo.append((name, ref))
    while todo:
        name, ref = todo.pop()
        if name not in literal:
            continue
        literal.discard(name)
        why[name] = (
            f"its value in vars: reads ${{{ref.name}}}" if ref.plain else f"its value in vars: reads {ref.name!r}"
        )
        todo.extend((reader, Reference(0, 0, name, True)) for reader in readers.get(name, ()))
    return Judgement(frozenset(literal), why)


_last: tuple[dict, Judgement] | None = None


def judge(flow: dict) -> Judgement:
    """The judgement for a flow file as parsed (its top-level mapping); the last one is
    kept, so each step's check of one file costs one walk of it."""
    global _last
    last = _last
    if last is not None and last[0] is flow:
        return last[1]
    judgement = _judge(flow)
    _last = (flow, judgement)
    return judgement


def variable_errors(spec: dict, flow: dict) -> list[tuple[tuple[str, str], str]]:
    """For a step's ``set:`` / ``export:`` (the step's mapping, in the flow file as parsed):
    ``((key, name), message)`` for each channel variable FreeSWITCH runs or routes by whose
    value can hold call data (:func:`flowengine.quoting.variables.variable_check`): on a
    call it is refused (the step fails) every time the value holds any."""
    judgement = judge(flow)
    found: list[tuple[tuple[str, str], str]] = []
    for key in ("set", "export"):
        values = spec.get(key)
        if not isinstance(values, dict):
            continue
        for name, value in values.items():
            text = as_text(value)
            refs = call_data(text, judgement)
            why = variable_check(str(name), bool(refs))
            if why is None:
                continue
            shown = ", ".join(dict.fromkeys(text[r.start : r.end] for r in refs[:3]))
            found.append(((key, str(name)), f"{shown} can hold call data ({judgement.reason(refs[0].name)}): {why}"))
    return found
