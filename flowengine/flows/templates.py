"""``${name}`` in flow values, expanded by the engine before anything reaches the wire.

Names are looked up in the flow's variables, then the call's well-known fields
(``caller_id_number``, ``caller_id_name``, ``destination_number``, ``uuid``, ``digits``),
then its channel variables. A name nobody knows is left as written, so FreeSWITCH can
still expand its own (``${sound_prefix}``, a global the channel data does not carry).

The result is a :class:`~flowengine.quoting.text.Text`: what the author wrote is trusted,
every looked-up value is marked as supplied by the call (named after the variable), and a
flow variable that itself holds a Text keeps its own marks. Nothing is escaped here:
where the text lands decides how it must be encoded (:mod:`flowengine.quoting`).
"""

from __future__ import annotations

import re
from typing import Callable

from ..quoting.text import Span, Text, spans

_TEMPLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


def _plain(value: object) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def expand(text: object, lookup: Callable[[str], object | None]) -> Text:
    """The author's ``text`` with every known ``${name}`` replaced by its value."""
    if isinstance(text, Text):
        return text
    text = _plain(text)
    if "${" not in text:
        return Text(text, ())
    out: list[str] = []
    found: list[Span] = []
    offset = pos = 0
    for match in _TEMPLATE.finditer(text):
        value = lookup(match.group(1))
        if value is None:
            continue
        before = text[pos:match.start()]
        out.append(before)
        offset += len(before)
        value = value if isinstance(value, str) else _plain(value)
        for span in spans(value, match.group(1)):
            found.append(Span(span.start + offset, span.end + offset, span.source))
        out.append(str(value))
        offset += len(value)
        pos = match.end()
    out.append(text[pos:])
    return Text("".join(out), found)
