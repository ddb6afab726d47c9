"""A value stored in a channel variable: it reads back as written, call data included.

However a variable is set — the ``set`` application (mod_dptools.c, ``base_set``),
``export``, ``api uuid_setvar`` (mod_commands.c), a dial string's ``{name=value}``
(switch_event_create_brackets) — FreeSWITCH stores it with ``switch_channel_set_variable``,
which goes through ``switch_event_add_header_string`` (src/switch_channel.c →
src/switch_event.c, ``switch_event_base_add_header``). There a value that starts
``ARRAY::`` is not a value but an array (``switch_event_add_array``): under 8 characters it
stores nothing, else it is split at every ``|:``, and with one element the prefix is
dropped. Checked on FreeSWITCH 1.10.12: ``ARRAY::hello`` set by a body ``set``, by a header
``set`` and by ``uuid_setvar`` was stored as ``hello`` (argument_in_body). Nothing escapes
it: the test is ``strncmp`` on the value as stored, after the set application's expansion.

So, for the value the call helped to write (:func:`stored_value`):

1. a control character from the call is a space (:func:`.text.without_controls`);
2. where the value starts — its first character once the author's text the expander may
   remove is gone: a ``${…}`` that expands to nothing and ``\\'``, wherever they stand in it
   (:func:`.scan.view`: ``ARR${unset}AY::`` and ``\\'ARRAY::`` are ``ARRAY::``) — an
   ``ARRAY::`` the call helped to spell (up to an author's ``${…}``, whose value may complete
   it) has its last character from the call written as a space: ``ARRAY::hello`` is stored
   as ``ARRAY: hello``;
3. where the author starts the value with ``ARRAY::`` (an array the author means) or with a
   ``${…}`` (whose value may start so), each ``|:`` the call helped to write has the call's
   characters of it written as spaces, so the call adds no element.

Replaced, not refused, as the call's control characters are: the value is the caller's
(a caller ID name, a webhook's answer), and refusing it would end the call.

For the applications that store their argument (:data:`SETS_VARIABLE`) the variable's name
— up to the ``=`` (``base_set`` takes a ``,`` when there is no ``=``) — must be the author's:
a name from the call could set any variable (``api_hangup_hook`` runs an API at hangup). And
the value of a variable FreeSWITCH later runs, routes by or plays from follows
:mod:`.variables` (no call data in ``api_hangup_hook``; a path in ``sound_prefix``).
"""

from __future__ import annotations

from ..errors import UnsafeValue
from .scan import View, view
from .text import Text, join, part, spans, untrusted_mask, without_controls
from .variables import checked_value

ARRAY_PREFIX = "ARRAY::"
ARRAY_SEP = "|:"
#: applications whose argument is ``name=value`` stored in a channel variable (mod_dptools.c:
#: base_set for set, push and unshift; export_function and bridge_export_function)
SETS_VARIABLE = frozenset({"set", "push", "unshift", "export", "bridge_export"})


def stored_value(value: str) -> str:
    """``value`` (a :class:`~.text.Text`, or a plain str: all call data) made to be stored
    as it reads (see the module); ``value`` itself when nothing from the call needs it."""
    value = without_controls(value)
    text = str(value)
    mask = untrusted_mask(value)
    if not any(mask):
        return value
    # where the value starts once the expander is done: the author's text it may remove
    # (an unset ${…}, "\\'") is gone, wherever it stands in the prefix (scan.view)
    seen = view(text, mask)
    blanks: set[int] = set(_prefix_from_call(seen, mask))
    if _author_array_start(seen, mask):
        at = text.find(ARRAY_SEP)
        while at >= 0:
            blanks.update(i for i in (at, at + 1) if mask[i] is not None)
            at = text.find(ARRAY_SEP, at + 1)
    if not blanks:
        return value
    return Text("".join(" " if i in blanks else c for i, c in enumerate(text)), spans(value))


def _prefix_from_call(seen: View, mask: list[str | None]) -> list[int]:
    """Where ``ARRAY::`` (or its start, up to an author's ``${…}``: the value may complete
    it) stands at the start with characters from the call: the last of those (in the
    original text), for each way the author's ``${…}`` in it may expand (to nothing, or to
    the rest)."""
    found: list[int] = []
    last = None
    for k, want in enumerate(ARRAY_PREFIX):
        if k in seen.opened and last is not None:
            found.append(last)  # an author's ${…}: its value may go on with it
        if k >= len(seen.text) or seen.text[k] != want:
            return found
        if mask[seen.where[k]] is not None:
            last = seen.where[k]
    if last is not None:
        found.append(last)
    return found


def _author_array_start(seen: View, mask: list[str | None]) -> bool:
    """Whether the author starts the value with ``ARRAY::`` or a ``${…}`` (whose value may)."""
    if 0 in seen.opened:
        return True
    end = len(ARRAY_PREFIX)
    return seen.text.startswith(ARRAY_PREFIX) and not any(mask[i] is not None for i in seen.where[:end])


def variable_arg(value: str, app: str, what: str) -> str:
    """The argument of ``app`` (one of :data:`SETS_VARIABLE`): ``name=value`` with the name
    the author's and the value made by :func:`stored_value`."""
    text = str(value)
    sep = text.find("=")
    if sep < 0:
        sep = text.find(",")
    mask = untrusted_mask(value)
    upto = len(text) if sep < 0 else sep + 1
    source = next((m for m in mask[:upto] if m is not None), None)
    if source is not None:
        raise UnsafeValue(
            f"{what}: the value of {source} would stand in the name of the variable {app} "
            f"sets (up to its '='): the call would choose which variable: {text[:60]!r}"
        )
    if sep < 0:
        return value
    rest = part(value, sep + 1, len(text))
    checked_value(text[:sep], rest, what)  # a variable FreeSWITCH runs takes no call data
    kept = stored_value(rest)
    if kept is rest:
        return value
    return join([part(value, 0, sep + 1), kept])
