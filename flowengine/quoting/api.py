"""A channel variable set by ``api uuid_setvar``: the value exactly, or not this way.

The api sets the variable at once, in the listener's thread, and fires no event (mod_commands.c,
uuid_setvar_function). The value is first made what both ways store
(:func:`.stored.stored_value`), then escaped for uuid_setvar's splitting; a value the ``set``
application's expansion would change, or over :data:`MAX_VALUE`, returns None and goes by the
application instead. The rules, with FreeSWITCH's source: docs/freeswitch.md, "Setting a
variable: api uuid_setvar".
"""

from __future__ import annotations

import re

from .stored import stored_value
from .variables import checked_value

#: names uuid_setvar takes as one word and the set application would read the same
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: a channel's uuid as uuid_setvar's first word: no space, nothing to unquote
_UUID = re.compile(r"[0-9A-Za-z-]{1,64}")
#: what the set application's expansion would change (switch_utils.h: switch_string_var_check_const,
#: switch_string_has_escaped_data)
_VAR_CHECK = re.compile(r"\$\\*\{|\\[\\nst']")
_ESCAPES = {"\\": "\\\\", "'": "\\'", " ": "\\s", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_NEEDS = re.compile(r"[\\' \t\n\r]")
#: a value longer than this goes by the application (in a counted body when long)
MAX_VALUE = 1024


def setvar_args(uuid: str, name: str, value: str, *, limit: int = MAX_VALUE) -> str | None:
    """``<uuid> <name> [value]`` for ``api uuid_setvar`` setting ``name`` to exactly
    ``value`` (an empty one unsets it, as ``set name=`` does), or None when only the
    application can; :class:`~flowengine.errors.UnsafeValue` when neither may, as the
    application's encoding refuses it: call data in a variable FreeSWITCH runs, or a path
    variable's value leaving the author's folder (:mod:`.variables`). ``limit``: the longest
    value (a set's longer ones go by the application, in a counted body; the engine's own
    failover checkpoint has none)."""
    if not _NAME.match(name) or not _UUID.fullmatch(uuid or ""):
        return None
    checked_value(name, value, f"uuid_setvar {name}")  # the same rules as the set application's
    text = str(stored_value(value))
    if len(text) > limit or _VAR_CHECK.search(text):
        return None
    if any((c < " " and c not in "\t\n\r") or c == "\x7f" for c in text):
        return None
    if not text:
        return f"{uuid} {name}"
    return f"{uuid} {name} {_NEEDS.sub(lambda m: _ESCAPES[m.group()], text)}"
