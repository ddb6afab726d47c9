"""call: run another flow with parameters; its ``return`` value is this step's outcome.

The interpreter runs it itself (a frame per called flow); the called flow and its
``params:`` are checked when the flow set loads (:mod:`flowengine.flows.flowset`).
"""

from __future__ import annotations

from .kind import CalledFlow, StepKind

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["flow"],
    "properties": {
        "flow": {"type": "string"},
        "with": {"type": "object", "additionalProperties": {"$ref": "#/$defs/scalar"}},
    },
}


def called(step) -> CalledFlow:
    """The flow a call step runs and its ``with:`` values."""
    spec = step.spec["call"]
    return CalledFlow(spec["flow"], spec.get("with", {}), ("call", "flow"), ("call", "with"))


KIND = StepKind(
    "call",
    SCHEMA,
    None,
    order=150,
    instant=True,
    accepts=lambda key: True,
    calls_flow=called,
    written="`call: {flow: name, with: {param: value}}`",
    does="run another flow (its `params:` are checked)",
    outcomes_doc="what it `return:`s (`done` if it just ends)",
)
