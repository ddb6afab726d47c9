"""The variable blocks of a dial string: each ``name=value`` the author writes in a ``{…}``,
``[…]`` or ``<…>`` becomes a channel variable of the new leg, so its value follows the
policy of :mod:`.variables` (a variable FreeSWITCH runs or routes by takes no call data, one
it plays from takes it as a path) and its name is the author's alone.

The blocks are found as FreeSWITCH finds them in the argument it has expanded, with the
call's characters and the author's ``${…}`` never counted as syntax. The rules, with
FreeSWITCH's source (switch_event_create_brackets, switch_ivr_originate):
docs/freeswitch.md, "Dial strings".
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import UnsafeValue
from .scan import author_expansions
from .text import Span, Text, untrusted_mask
from .variables import checked_value, effective_name, variable_check

_CLOSE = {"{": "}", "[": "]", "<": ">"}
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


class _Unit(NamedTuple):
    """One character as the dial-string parser sees it: ``text`` (the character, or an
    author's whole ``${…}``), where it stands in the original, which source supplied it
    (None: the author), and whether the parser may read it as syntax."""

    text: str
    start: int
    end: int
    source: str | None
    syntax: bool


class Pair(NamedTuple):
    """One ``name=value`` of a block: the name as FreeSWITCH reads it, who supplied any of
    it (``name_from``: a call's source, ``"${…}"`` for an author's expansion FreeSWITCH
    fills), and the value as FreeSWITCH stores it (a :class:`~.text.Text` with the call's
    marks; an author's ``${…}`` kept as written)."""

    name: str
    name_from: str | None
    value: Text


def _units(text: str, mask: list[str | None], *, expanded: bool) -> list[_Unit]:
    """The characters the parser reads. ``expanded``: after the one expansion the bridge
    argument gets (switch_channel_expand_variables: an author's ``\\\\`` is one backslash,
    ``\\'`` nothing, ``\\$`` a ``$``, each ``${…}`` its value); else as written (the
    expander leaves a text without ``${`` and escapes alone)."""
    ends = dict(author_expansions(text, mask)) if expanded else {}
    out: list[_Unit] = []
    i = 0
    while i < len(text):
        if i in ends:
            out.append(_Unit(text[i : ends[i]], i, ends[i], None, False))
            i = ends[i]
            continue
        c, source = text[i], mask[i]
        if source is not None:
            out.append(_Unit(c, i, i + 1, source, False))
        elif expanded and c == "\\" and i + 1 < len(text) and mask[i + 1] is None and text[i + 1] in "\\'$":
            if text[i + 1] != "'":
                out.append(_Unit(text[i + 1], i, i + 2, None, text[i + 1] == "\\"))
            i += 2
            continue
        else:
            out.append(_Unit(c, i, i + 1, None, True))
        i += 1
    return out


def _is(unit: _Unit, chars: str) -> bool:
    return unit.syntax and unit.text in chars


def _bodies(units: list[_Unit]) -> list[list[_Unit]]:
    """What stands inside each block: from an opening bracket to the one that closes it,
    nesting counted as switch_find_end_paren counts it (the end of the text when none)."""
    bodies = []
    i = 0
    while i < len(units):
        if not _is(units[i], "{[<"):
            i += 1
            continue
        opening, depth, j = units[i].text, 0, i
        while j < len(units):
            if _is(units[j], opening):
                depth += 1
            elif _is(units[j], _CLOSE[opening]):
                depth -= 1
                if depth == 0:
                    break
            j += 1
        bodies.append(units[i + 1 : j])
        i = j + 1
    return bodies


def _split(units: list[_Unit], delim: str, most: int) -> list[list[_Unit]]:
    """switch_separate_string on ``delim`` (src/switch_utils.c): a backslash takes the next
    character along, a quote with another after it opens or closes a quoted stretch, and
    the delimiter splits outside one, at most ``most`` parts."""
    last_quote = max((k for k, u in enumerate(units) if _is(u, "'")), default=-1)
    parts: list[list[_Unit]] = [[]]
    inside = False
    k = 0
    while k < len(units):
        unit = units[k]
        if _is(unit, "\\") and k + 1 < len(units):
            parts[-1] += units[k : k + 2]
            k += 2
            continue
        if _is(unit, "'") and (inside or k < last_quote):
            inside = not inside
        if _is(unit, delim) and not inside and len(parts) < most:
            parts.append([])
        else:
            parts[-1].append(unit)
        k += 1
    return parts


def _cleaned(units: list[_Unit]) -> list[_Unit]:
    """cleanup_separated_string: the quotes that pair up gone, ``\\'`` ``\\"`` ``\\\\`` and
    ``\\n`` … undone, blanks at either end cut."""
    last_quote = max((k for k, u in enumerate(units) if _is(u, "'")), default=-1)
    out: list[_Unit] = []
    inside = False
    k = 0
    while k < len(units):
        unit = units[k]
        if _is(unit, "\\") and k + 1 < len(units):
            nxt = units[k + 1]
            if nxt.text in "'\"\\" or nxt.text in _ESCAPES:
                out.append(nxt._replace(text=_ESCAPES.get(nxt.text, nxt.text), syntax=False))
                k += 2
                continue
        if _is(unit, "'") and (inside or k < last_quote):
            inside = not inside
        else:
            out.append(unit)
        k += 1
    while out and out[0].text.isspace():
        out.pop(0)
    while out and out[-1].text.isspace():
        out.pop()
    return out


def _text(units: list[_Unit]) -> Text:
    spans = []
    at = 0
    for unit in units:
        if unit.source is not None:
            spans.append(Span(at, at + len(unit.text), unit.source))
        at += len(unit.text)
    return Text("".join(u.text for u in units), spans)


def _pairs_of(units: list[_Unit]) -> list[Pair]:
    found = []
    for body in _bodies(units):
        delim = ","
        if len(body) > 2 and _is(body[0], "^") and _is(body[1], "^"):
            delim, body = body[2].text, body[3:]  # "^^X": X separates the pairs
        for part in _split(body, delim, 1024):
            halves = _split(_cleaned(part), "=", 2)
            if len(halves) != 2:
                continue  # FreeSWITCH sets a pair only with its '='
            name = _cleaned(halves[0])
            name_from = next((u.source for u in name if u.source is not None), None)
            if name_from is None and any(not u.syntax and u.source is None and len(u.text) > 1 for u in name):
                name_from = "${…}"
            found.append(Pair(_text(name).lower(), name_from, _text(_cleaned(halves[1]))))
    return found


def pairs(value: str) -> list[Pair]:
    """Every ``name=value`` FreeSWITCH may set from the blocks of ``value`` (a dial string or
    a part of one; a :class:`~.text.Text`, a plain ``str`` being all call data): read both as
    expanded and as written, as FreeSWITCH reads one or the other
    (switch_event_create_brackets: pairs at ``,`` or the ``X`` of a leading ``^^X``, each split
    at its first ``=``, quotes and escapes honoured)."""
    text = str(value)
    if not any(c in text for c in "{[<"):
        return []
    mask = untrusted_mask(value)
    found = _pairs_of(_units(text, mask, expanded=True))
    if "\\" in text and not author_expansions(text, mask):
        seen = {(p.name, str(p.value)) for p in found}
        found += [p for p in _pairs_of(_units(text, mask, expanded=False)) if (p.name, str(p.value)) not in seen]
    return found


def _name_problem(pair: Pair) -> str | None:
    """Why the name of ``pair`` may not stand as written: the call wrote part of it (it would
    choose the variable, whatever the value), or an author's ``${…}`` FreeSWITCH fills did
    and the value holds call data (the name could be one FreeSWITCH runs)."""
    if pair.name_from is None:
        return None
    if pair.name_from != "${…}":
        return (
            f"the value of {pair.name_from} stands in the name of a variable the dial string sets "
            f"({pair.name!r}): the call would choose which variable; write the name out"
        )
    if any(s.end > s.start for s in pair.value.data):
        return (
            f"the name {pair.name!r} holds a ${{…}} FreeSWITCH fills and the value holds call data: "
            "the variable that takes it could be one FreeSWITCH runs; write the name out"
        )
    return None


def variable_problems(value: str) -> list[tuple[str, str]]:
    """``(name, message)`` for each variable of the blocks of ``value`` that would take call
    data where the policy forbids it (:func:`.variables.variable_check`), or whose name the
    call helps to write. ``value`` marks what can hold call data as a
    :class:`~.text.Text` span: for ``--check``, a bridge target as written with each ``${…}``
    that can hold call data marked. A variable FreeSWITCH plays from is not listed: the
    call's value is checked as a path on the call (:func:`checked_blocks`)."""
    problems = []
    for pair in pairs(value):
        why = _name_problem(pair)
        if why is None:
            why = variable_check(effective_name(pair.name), any(s.end > s.start for s in pair.value.data))
        if why is not None:
            problems.append((pair.name, why))
    return problems


def checked_blocks(value: str, what: str) -> str:
    """``value`` (a dial string or a target, a :class:`~.text.Text`) when every variable its
    blocks set takes the call's characters only where the policy of :mod:`.variables`
    allows; else :class:`~flowengine.errors.UnsafeValue`."""
    for pair in pairs(value):
        why = _name_problem(pair)
        if why is not None:
            raise UnsafeValue(f"{what}: {why}: {str(value)[:60]!r}")
        checked_value(effective_name(pair.name), pair.value, f"{what} ({{…}} variable {pair.name})")
    return value
