"""Space-separated arguments: call data fills one word, never more.

A space, quote or backslash from the call would move every later argument, and a control
character would be written as a space (:func:`.text.without_controls`): those are refused.
Why, with FreeSWITCH's source (switch_separate_string): docs/freeswitch.md, "Words and
paths". File paths: :mod:`.paths`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import UnsafeValue
from .expansion import breaks_needed
from .scan import call_in_start, view
from .text import CONTROL, is_trusted, join, literal, untrusted_mask

_WORD_UNSAFE = frozenset(" \t'\\\"")


def word(value: str, what: str) -> str:
    """One argument word: non-empty, and no call data that would split or quote it."""
    text = str(value)
    if not text:
        raise UnsafeValue(f"{what} is empty: FreeSWITCH would shift every later argument")
    if is_trusted(value):  # the author's alone: every check below is about the call's characters
        return value
    mask = untrusted_mask(value)
    for i, c in enumerate(text):
        if mask[i] is not None and (c in _WORD_UNSAFE or c.isspace() or CONTROL.match(c)):
            raise UnsafeValue(
                f"{what}: the value of {mask[i]} contains {c!r}, which would split "
                f"or quote FreeSWITCH's arguments: {text[:60]!r}"
            )
    breaks = breaks_needed(text, mask)
    if breaks:
        raise UnsafeValue(
            f"{what}: the value of {mask[breaks[0]] or mask[breaks[0] - 1]} puts "
            f"{text[breaks[0] - 1 : breaks[0] + 1]!r} together, which FreeSWITCH would expand"
        )
    seen = view(text, mask)  # as switch_separate_string sees its start
    who = call_in_start(seen, mask, 3) if seen.text.startswith("^^") else None
    if who is not None:
        raise UnsafeValue(f"{what}: the value of {who} starts with '^^', which changes FreeSWITCH's argument delimiter")
    return value


def words(parts: Iterable[str], what: str, *, no_flag: bool = False) -> str:
    """Words joined by single spaces, each checked by :func:`word`; marks kept.

    ``no_flag``: the first word may not start with ``-`` where the call supplied any of it
    (``transfer`` reads ``-bleg`` / ``-both`` there as options and shifts the rest,
    mod_dptools.c transfer_function), judged on the word as FreeSWITCH compares it: after
    the expander (an unset ``${…}``, ``\\'`` gone) and ``cleanup_separated_string`` (the
    author's quotes gone: ``'${name}'`` is the name).

    An author's ``^^X`` at the start makes ``X`` the delimiter of every word
    (switch_separate_string), so ``X`` from the call is refused as a blank is."""
    out: list[str] = []
    for n, part in enumerate(parts):
        if n:
            out.append(literal(" "))
        out.append(word(part, f"{what} (word {n + 1})"))
        if n == 0 and no_flag:
            mask = untrusted_mask(part)
            seen = view(str(part), mask, quotes=True)
            if seen.text.startswith("-") and any(mask):
                raise UnsafeValue(
                    f"{what}: the value of {next(m for m in mask if m)} is in a first word that "
                    f"starts with '-', which {what} reads as an option: {str(part)[:60]!r}"
                )
    joined = join(out)
    if is_trusted(joined):  # no call data: no character of the call's to be a delimiter
        return joined
    mask = untrusted_mask(joined)
    seen = view(str(joined), mask)
    if seen.text.startswith("^^") and len(seen.text) > 3:
        delim = seen.text[2]
        at = next((i for i in range(seen.where[2] + 1, len(joined)) if joined[i] == delim and mask[i]), None)
        if at is not None:
            raise UnsafeValue(
                f"{what}: the value of {mask[at]} contains {delim!r}, which the author's "
                f"'^^{delim}' makes FreeSWITCH's argument delimiter: {str(joined)[:60]!r}"
            )
    return joined


#: what call data may hold in a name FreeSWITCH looks up (a queue, a conference room, a PIN)
NAME_CHARS = re.compile(r"[A-Za-z0-9_.-]")


def name(value: str, what: str, chars: re.Pattern = NAME_CHARS) -> str:
    """A name the author builds (``sales_${team}``): the call may supply only ``chars``
    (letters, digits, ``_ . -`` by default), so it can never add the separators of the
    argument it lands in (``@`` profile, ``+`` PIN, ``+flags{…}``, a space)."""
    text = str(value)
    if not text:
        raise UnsafeValue(f"{what} is empty")
    mask = untrusted_mask(value)
    for i, c in enumerate(text):
        if mask[i] is not None and not chars.fullmatch(c):
            raise UnsafeValue(
                f"{what}: the value of {mask[i]} contains {c!r}, which is not part of a name there: {text[:60]!r}"
            )
    return value
