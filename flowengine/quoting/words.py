"""Space-separated arguments and file paths: call data fills one word, never more.

Most mod_dptools applications split their argument with ``switch_separate_string(data,
' ', …)`` (src/switch_utils.c, ``separate_string_blank_delim`` and
``cleanup_separated_string``): a space ends a word (runs of spaces count as one, so an
empty word vanishes and shifts the rest), ``'`` toggles quoting, ``\\`` escapes the next
character, and an argument starting ``^^X`` makes ``X`` the delimiter. The last slot takes
the rest of the string. So a space, quote or backslash from the call would move every
later argument (``play_and_get_digits``' regexp, ``record``'s limits); those are refused,
and so is a control character, which the argument's encoding would otherwise write as a
space (:func:`.text.without_controls`).

A path from the call is a file name, not a way around the author's folder: no ``..``
segment, no leading ``/``, and only the characters file names need (no ``!``, which
``file_string://`` reads as a separator, no ``:``/``{``, which select a file format or its
parameters in ``switch_ivr_play_file``).
"""

from __future__ import annotations

import re
from typing import Iterable

from ..errors import UnsafeValue
from .expansion import author_expansions, breaks_needed, start_after_expansions
from .text import CONTROL, join, literal, untrusted_mask

_WORD_UNSAFE = frozenset(" \t'\\\"")
PATH_CHARS = re.compile(r"[A-Za-z0-9_.+@=/-]")


def word(value: str, what: str) -> str:
    """One argument word: non-empty, and no call data that would split or quote it."""
    text = str(value)
    if not text:
        raise UnsafeValue(f"{what} is empty: FreeSWITCH would shift every later argument")
    mask = untrusted_mask(value)
    for i, c in enumerate(text):
        if mask[i] is not None and (c in _WORD_UNSAFE or c.isspace() or CONTROL.match(c)):
            raise UnsafeValue(f"{what}: the value of {mask[i]} contains {c!r}, which would split "
                              f"or quote FreeSWITCH's arguments: {text[:60]!r}")
    breaks = breaks_needed(text, mask)
    if breaks:
        raise UnsafeValue(f"{what}: the value of {mask[breaks[0]] or mask[breaks[0] - 1]} puts "
                          f"{text[breaks[0] - 1:breaks[0] + 1]!r} together, which FreeSWITCH would expand")
    first = start_after_expansions(text, author_expansions(text, mask))
    if text.startswith("^^", first) and any(mask[first:first + 3]):
        raise UnsafeValue(f"{what}: the value of {next(m for m in mask[first:first + 3] if m)} starts "
                          "with '^^', which changes FreeSWITCH's argument delimiter")
    return value


def words(parts: Iterable[str], what: str, *, no_flag: bool = False) -> str:
    """Words joined by single spaces, each checked by :func:`word`; marks kept.

    ``no_flag``: the first word may not start with ``-`` from the call (``transfer`` reads
    ``-bleg`` / ``-both`` there as options and shifts the rest, mod_dptools.c)."""
    out: list[str] = []
    for n, part in enumerate(parts):
        if n:
            out.append(literal(" "))
        out.append(word(part, f"{what} (word {n + 1})"))
        if n == 0 and no_flag:
            mask = untrusted_mask(part)
            first = start_after_expansions(str(part), author_expansions(str(part), mask))
            if str(part).startswith("-", first) and mask[first]:
                raise UnsafeValue(f"{what}: the value of {mask[first]} starts with '-', which "
                                  f"{what} reads as an option: {str(part)[:60]!r}")
    return join(out)


def path(value: str, what: str) -> str:
    """A file path: the call may supply names inside the author's folders, nothing else."""
    text = str(value)
    mask = untrusted_mask(value)
    for i, c in enumerate(text):
        if mask[i] is not None and not PATH_CHARS.fullmatch(c):
            raise UnsafeValue(f"{what}: the value of {mask[i]} contains {c!r}, which is not part "
                              f"of a file name: {text[:60]!r}")
    # from where FreeSWITCH starts reading: the author's leading ${…} may expand to nothing
    first = start_after_expansions(text, author_expansions(text, mask))
    if first < len(text) and mask[first] is not None and text.startswith("/", first):
        raise UnsafeValue(f"{what}: the value of {mask[first]} makes the path absolute: {text[:60]!r}")
    pos = 0
    for segment in text.split("/"):
        end = pos + len(segment)
        if segment == ".." and any(mask[pos:end]):
            raise UnsafeValue(f"{what}: the value of {next(m for m in mask[pos:end] if m)} "
                              f"climbs out of the folder ('..'): {text[:60]!r}")
        pos = end + 1
    return value


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
            raise UnsafeValue(f"{what}: the value of {mask[i]} contains {c!r}, which is not part of a "
                              f"name there: {text[:60]!r}")
    return value
