"""A value stored in a channel variable: it reads back as written, call data included.

However it was set, FreeSWITCH stores a value starting ``ARRAY::`` as an array. So in what the
call helped to write (:func:`stored_value`) a control character is a space, and an ``ARRAY::``
at the start or a ``|:`` the call helped to spell is broken with a space: replaced, not
refused. An application that stores its argument (:data:`SETS_VARIABLE`) takes the variable's
name from the author only. The rules, with FreeSWITCH's source: docs/freeswitch.md, "Values
stored in a channel variable".
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
