"""goto: go to a step, at most ``max`` times in one call, then ``exceeded`` (a bounded loop)."""

from __future__ import annotations

from .common import to
from .kind import StepKind
from .when import limited


def run(flow_run, step):
    spec = step.spec
    return limited(flow_run, step, "goto", spec["goto"], spec.get("max"), spec.get("exceeded"))
    yield


def transitions(step):
    out = [to(step.spec["goto"], ("goto",), "goto")]
    if "exceeded" in step.spec:
        out.append(to(step.spec["exceeded"], ("exceeded",), "exceeded"))
    return out


KIND = StepKind(
    "goto",
    {"$ref": "#/$defs/target"},
    run,
    order=100,
    outcomes=("exceeded",),
    instant=True,
    step_keys={
        "max": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10000,
            "description": "Times this goto may be taken in one call (at most 10000); then exceeded.",
        },
        "exceeded": {"$ref": "#/$defs/target"},
    },
    written="`goto: step` with `max: N`, `exceeded: step`",
    does="a bounded loop",
    outcomes_doc="`exceeded`",
    transitions=transitions,
    unhandled=lambda step: (
        ["exceeded"] if "max" in step.spec and "exceeded" not in step.spec and "exceeded" not in step.on else []
    ),
    bounded=lambda step, path: path == ("goto",) and "max" in step.spec,
)
