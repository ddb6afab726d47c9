"""``${name}`` in flow values, expanded by the engine before anything reaches the wire.

Names are looked up in the flow's variables, then the call's well-known fields
(``caller_id_number``, ``caller_id_name``, ``destination_number``, ``uuid``, ``digits``),
then its channel variables. A name nobody knows is left as written, so FreeSWITCH can
still expand its own (``${sound_prefix}``).

What a lookup returns came from the call (a caller ID name, digits, a variable) and is
not trusted: a ``${`` inside it is broken up so FreeSWITCH never expands it, and CR, LF
and NUL are left for the command builders to refuse or carry in a body.
"""

from __future__ import annotations

import re
from typing import Callable

_TEMPLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


def neutralize(value: str) -> str:
    return value.replace("${", "$ {")


def expand(text: object, lookup: Callable[[str], object | None]) -> str:
    text = "true" if text is True else "false" if text is False else str(text)
    if "${" not in text:
        return text

    def replace(match: re.Match) -> str:
        value = lookup(match.group(1))
        if value is None:
            return match.group(0)
        if isinstance(value, bool):
            value = "true" if value else "false"
        return neutralize(str(value))

    return _TEMPLATE.sub(replace, text)
