"""The flow file's JSON Schema and the README's step table, written out from the step kinds.

``data/flow_base.schema.json`` holds what is not a step kind's (the flow's own keys, the
shared ``$defs``); each kind adds its value's schema and any step-level keys of its own
(:mod:`flowengine.flows.steps`). ``flow.schema.json`` is the result, committed so editors
and a plain install read it; tests fail when it, or the README's table, differs from what
the kinds say. ``python -m flowengine.flows.schema`` writes the file again and prints
the table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .steps import KINDS

HERE = Path(__file__).resolve().parent
BASE = HERE / "data" / "flow_base.schema.json"
SCHEMA_FILE = HERE / "flow.schema.json"
TABLE_HEAD = "| step | what it does | outcomes (for `on:`) |\n|---|---|---|\n"


def build() -> dict:
    schema = json.loads(BASE.read_text(encoding="utf-8"))
    properties = schema["$defs"]["step"]["properties"]
    for kind in KINDS.values():
        properties[kind.name] = kind.schema
        properties.update(kind.step_keys)
    return schema


def schema_text() -> str:
    return json.dumps(build(), indent=2) + "\n"


def readme_table() -> str:
    """The README's step table: one row per kind, in the kinds' order."""
    rows = [f"| {k.written} | {k.does} | {k.outcomes_doc} |\n" for k in KINDS.values()]
    return TABLE_HEAD + "".join(rows)


def main() -> int:
    SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}", file=sys.stderr)
    print(readme_table(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
