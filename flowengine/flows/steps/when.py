"""when: the first branch whose condition holds, else ``else``; a branch may be bounded."""

from __future__ import annotations

import json

from ..conditions import holds
from ..effects import Goto
from .common import to
from .kind import StepKind

SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["if", "goto"],
        "properties": {
            "if": {"$ref": "#/$defs/condition"},
            "goto": {"$ref": "#/$defs/target"},
            "max": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10000,
                "description": "Times this branch may be taken in one call (at most 10000); then exceeded.",
            },
            "exceeded": {"$ref": "#/$defs/target"},
        },
    },
}


def limited(flow_run, step, edge: str, target: str, limit: int | None, exceeded: str | None):
    """The target, or the ``exceeded`` one once this edge was taken ``limit`` times."""
    if limit is None or flow_run.count((step.name, edge)) <= limit:
        return Goto(target, edge)
    return Goto(exceeded, f"{edge}.exceeded" if edge != "goto" else "exceeded") if exceeded else "exceeded"


def run(flow_run, step):
    spec = step.spec
    for i, branch in enumerate(spec["when"]):
        if holds(
            branch["if"],
            lookup=flow_run.lookup,
            calendars=flow_run.flow.calendars,
            now=flow_run.now,
            timezone=flow_run.flow.timezone,
        ):
            return limited(flow_run, step, f"when[{i}]", branch["goto"], branch.get("max"), branch.get("exceeded"))
    if "else" in spec:
        return Goto(spec["else"], "else")
    return "no_match"
    yield  # a generator, like every step


def _condition(condition, index: int) -> str:
    """``open: office`` for ``{open: office}``; long conditions are cut, the file has them."""
    if not isinstance(condition, dict):
        return f"when[{index}]"
    text = ", ".join(
        f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}" for k, v in condition.items()
    )
    return text if len(text) <= 40 else text[:39] + "…"


def transitions(step):
    out = []
    for i, branch in enumerate(step.spec["when"]):
        label = _condition(branch.get("if"), i)
        out.append(to(branch["goto"], ("when", i, "goto"), f"when[{i}]", label))
        if "exceeded" in branch:
            out.append(to(branch["exceeded"], ("when", i, "exceeded"), f"when[{i}].exceeded", "exceeded: " + label))
    if "else" in step.spec:
        out.append(to(step.spec["else"], ("else",), "else"))
    return out


def unhandled(step):
    missing = [] if "else" in step.spec else ["else"]
    if any("max" in b and "exceeded" not in b for b in step.spec["when"]):
        missing.append("exceeded")
    return missing


def check(step, problems) -> None:
    from ..validate import check_condition

    for i, branch in enumerate(step.spec["when"]):
        check_condition(branch["if"], ("when", i, "if"), problems)


KIND = StepKind(
    "when",
    SCHEMA,
    run,
    order=90,
    instant=True,
    step_keys={"else": {"$ref": "#/$defs/target"}},
    written="`when: [{if: condition, goto: step, max, exceeded}]`, `else: step`",
    does="conditions on `var` (`equals`, `in`, `matches`, `empty`), `caller`, `destination`, `digits` "
    "(numbers, ranges, /patterns/), `open` / `closed` calendars, inline `time: \"Mon-Fri "
    "08:00-18:00\"` with `timezone`; `all`, `any`, `not`",
    outcomes_doc="—",
    transitions=transitions,
    unhandled=unhandled,
    check=check,
    bounded=lambda step, path: len(path) == 3 and path[2] == "goto" and "max" in step.spec["when"][path[1]],
)
