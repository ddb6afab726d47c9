"""A channel variable set by ``api uuid_setvar``: the value exactly, or not this way.

A flow's ``set`` costs FreeSWITCH an application (CHANNEL_EXECUTE and
CHANNEL_EXECUTE_COMPLETE, each with every channel variable) and a round trip; the api
``uuid_setvar <uuid> <name> [value]`` sets the same variable in the listener's thread, at
once, and fires no event (mod_commands.c, uuid_setvar_function). What it does to the text:

- mod_event_socket.c (parse_command) cuts the line at its first CR or LF and runs the api
  in the listener's thread before it reads the next command; ``switch_api_execute``
  (src/switch_loadable_module.c) trims CR, LF, tab, space and VT around the argument
  (``switch_strip_whitespace``) and expands nothing;
- uuid_setvar splits it with ``switch_separate_string(cmd, ' ', argv, 3)``
  (src/switch_utils.c): the third slot takes the rest of the line, and
  ``cleanup_separated_string`` then drops leading and trailing spaces and ``'`` pairs and
  undoes ``\\\\`` ``\\'`` ``\\"`` ``\\n`` ``\\r`` ``\\t`` ``\\s`` (any other backslash stays);
- it stores the result with ``switch_channel_set_variable`` (without the variable check),
  where the ``set`` application would first expand it (mod_dptools.c, base_set); both go
  through switch_event_add_header_string, where a value starting ``ARRAY::`` becomes an
  array (uuid_setvar of ``ARRAY::viaapi`` stored ``viaapi``, argument_in_body).

So the value is first made what both ways store as written (:func:`.stored.stored_value`:
the call's control characters are spaces, and the call spells no ``ARRAY::`` at its start;
the application's encoding makes the very same value, so a set reads the same whichever
way it went). Then every backslash and quote is escaped and blanks and line ends are
written as escapes. A value the application's expansion would change returns None: one
holding ``$`` then ``{`` (backslashes between count: ``switch_string_var_check_const``),
or a backslash before ``\\ n s t '`` (``switch_string_has_escaped_data``; without either,
switch_channel_expand_variables gives its input back untouched) — an author's ``${…}`` left
for FreeSWITCH must be expanded, which only the application does; so do the author's own
control characters and values over :data:`MAX_VALUE`. The ``set`` application (its argument
encoded by :func:`~flowengine.quoting.app_arg`) sets those instead. Nothing else here
depends on where the characters came from (nothing is expanded), but for the variables
FreeSWITCH later runs, routes by or plays from, whose value follows the same rules as by the
application (:mod:`.variables`).
"""

from __future__ import annotations

import re

from .stored import stored_value
from .variables import checked_value

#: names uuid_setvar takes as one word and the set application would read the same
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
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
    if not _NAME.match(name) or not re.fullmatch(r"[0-9A-Za-z-]{1,64}", uuid or ""):
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
