"""Writes what is made from the step kinds: the flow file's JSON Schema (:mod:`.schema`)
and the documentation's step pages (:mod:`.step_docs`, in a checkout).

Run ``python3 -m flowengine.flows.generate`` after adding or changing a kind; the tests
fail until the committed files are the ones the kinds make.
"""

from __future__ import annotations

import sys

from . import schema, step_docs


def main() -> int:
    schema.SCHEMA_FILE.write_text(schema.schema_text(), encoding="utf-8")
    print(f"wrote {schema.SCHEMA_FILE}", file=sys.stderr)
    if (step_docs.ROOT / "docs").is_dir():
        for path in step_docs.write():
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
