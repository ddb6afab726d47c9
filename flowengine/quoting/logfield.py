"""A value from the call in a ``key=value`` log line: one field, whatever it holds.

Text log lines are read by people and by key=value parsers; a caller number of
``1001 outcome=ok`` must not add a field. A plain value stays as it is; anything else is
written as one JSON string. (Control characters are escaped for the whole line by the
text formatter, :mod:`flowengine.logs`.)
"""

from __future__ import annotations

import json
import re

_PLAIN = re.compile(r"[A-Za-z0-9_.:/#*+@\[\]-]*")


def field(value: object) -> str:
    text = str(value)
    return text if _PLAIN.fullmatch(text) else json.dumps(text, ensure_ascii=False)
