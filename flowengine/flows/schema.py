"""The flow file's JSON Schema and the documentation's step pages, written out from the step kinds.

``data/flow_base.schema.json`` holds what is not a step kind's (the flow's own keys, the
shared ``$defs``); each kind adds its value's schema and any step-level keys of its own
(:mod:`flowengine.flows.steps`). ``flow.schema.json`` is the result, committed so editors
and a plain install read it; the step pages under ``docs/steps/`` are
:mod:`.step_docs`'. Tests fail when either differs from what the kinds say:
``python -m flowengine.flows.schema`` writes both again.
"""

from __future__ import annotations

import json
import sys
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


def main() -> int:
    from . import step_docs
    SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}", file=sys.stderr)
    if (step_docs.ROOT / "docs").is_dir():
        for path in step_docs.write():
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
