"""The flow file's JSON Schema, made from the step kinds.

``data/flow_base.schema.json`` holds what is not a step kind's (the flow's own keys, the
shared ``$defs``); each kind adds its value's schema and any step-level keys of its own
(:mod:`flowengine.flows.steps`). ``flow.schema.json`` is the result, committed so editors
and a plain install read it. A test fails when it differs from what the kinds say:
``python3 -m flowengine.flows.generate`` writes it again (:mod:`.generate`).
"""

from __future__ import annotations

import json
from pathlib import Path

from .steps import KINDS

HERE = Path(__file__).resolve().parent
BASE = HERE / "data" / "flow_base.schema.json"
SCHEMA_FILE = HERE / "flow.schema.json"


def build() -> dict:
    schema = json.loads(BASE.read_text(encoding="utf-8"))
    properties = schema["$defs"]["step"]["properties"]
    for kind in KINDS.values():
        properties[kind.name] = kind.schema
        properties.update(kind.step_keys)
    return schema


def schema_text() -> str:
    return json.dumps(build(), indent=2) + "\n"
