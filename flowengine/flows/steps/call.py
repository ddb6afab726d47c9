"""call: run another flow with parameters; its ``return`` value is this step's outcome.

The interpreter runs it itself (a frame per called flow); the called flow and its
``params:`` are checked when the flow set loads (:mod:`flowengine.flows.flowset`).
"""

from __future__ import annotations

from .kind import StepKind

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["flow"], "properties": {
    "flow": {"type": "string"}, "with": {"type": "object", "additionalProperties": {"$ref": "#/$defs/scalar"}}}}

KIND = StepKind("call", SCHEMA, None, order=150, instant=True, accepts=lambda key: True,
                written="`call: {flow: name, with: {param: value}}`",
                does="run another flow (its `params:` are checked)",
                outcomes_doc="what it `return:`s (`done` if it just ends)")
