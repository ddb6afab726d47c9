"""Where FreeSWITCH's expander finds the author's ``${…}``, and where an argument starts:
what every encoder must know.

The start checks look at :func:`view`: the text with what FreeSWITCH may remove before a
parser reads it (a ``${…}`` that expands to nothing, ``\\'``, a word's quotes) taken out
wherever it stands, never the raw first character. Why, with FreeSWITCH's source
(switch_channel_expand_variables_check): docs/freeswitch.md, "Where an argument starts".
"""

from __future__ import annotations

from typing import NamedTuple


def author_expansions(text: str, mask: list[str | None]) -> list[tuple[int, int]]:
    """``[start, end)`` of each ``${…}`` / ``$${…}`` the author wrote, as FreeSWITCH
    delimits it: from the ``$`` to the ``}`` that balances the first ``{`` (or the end).

    Counted also where this pass would not expand it but a later one will: an escaped
    ``\\${`` becomes ``${``, and ``$\\'{`` loses its ``\\'``."""
    found = []
    i, n = 0, len(text)
    while i < n:
        if text[i] != "$" or mask[i] is not None:
            i += 1
            continue
        j = i + 1
        while j < n and text[j] in "\\'$":  # whoever wrote them: a pass may drop them
            j += 1
        if j < n and text[j] == "{" and mask[j] is None:
            depth, k = 1, j + 1
            while k < n:
                if text[k] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                elif text[k] == "{" and k != j + 1:
                    depth += 1
                k += 1
            found.append((i, min(k + 1, n)))
            i = k + 1
            continue
        i = j
    return found


class View(NamedTuple):
    """What may remain of a text for a parser that looks at its start: ``text`` the
    characters, ``where`` each one's position in the original, ``opened`` the positions (in
    ``text``) where an author's ``${…}`` stood, whose value may stand there instead."""

    text: str
    where: list[int]
    opened: frozenset[int]


def removable(text: str, mask: list[str | None], *, quotes: bool = False) -> set[int]:
    """Positions of the author's characters FreeSWITCH may remove before an application
    reads the start of its argument (the call's never go: the encoding keeps them as written):

    - every ``${…}`` / ``$${…}`` (:func:`author_expansions`): an unset variable expands to
      nothing (src/switch_channel.c, ``switch_channel_expand_variables_check``);
    - every backslash, and a quote after one: the expander drops ``\\'`` and halves ``\\\\``
      in each pass (``\\\\'`` is ``\\'`` after one pass and nothing after two), so with any
      number of passes a backslash may be gone and so may the quote it escapes;
    - with ``quotes``, every quote: ``switch_separate_string``'s cleanup
      (src/switch_utils.c, ``cleanup_separated_string``) drops them from a word.

    A backslash or a quote is never part of a start FreeSWITCH reads (``%[``, ``^^``, ``-``,
    ``{``, ``ARRAY::``, ``/``), so counting one as gone that stays only makes a check stricter."""
    gone: set[int] = set()
    for start, end in author_expansions(text, mask):
        gone.update(range(start, end))
    for i, c in enumerate(text):
        if mask[i] is not None or i in gone:
            continue
        if c == "\\" or (c == "'" and (quotes or (i and text[i - 1] == "\\" and mask[i - 1] is None))):
            gone.add(i)
    return gone


def view(text: str, mask: list[str | None], *, quotes: bool = False) -> View:
    """``text`` as a parser at its start may see it (:func:`removable` taken out)."""
    if "$" not in text and "\\" not in text and not (quotes and "'" in text):
        # nothing removable: no ${…}, no backslash (so no escaped quote), no quote that goes
        return View(str(text), list(range(len(text))), frozenset())
    gone = removable(text, mask, quotes=quotes)
    opened = {start for start, _ in author_expansions(text, mask)}
    chars: list[str] = []
    where: list[int] = []
    marks: set[int] = set()
    for i, c in enumerate(text):
        if i in opened:
            marks.add(len(chars))
        if i not in gone:
            chars.append(c)
            where.append(i)
    return View("".join(chars), where, frozenset(marks))


def call_in_start(found: View, mask: list[str | None], length: int) -> str | None:
    """The source of the first character from the call among the first ``length`` of the
    view, else None."""
    return next((mask[i] for i in found.where[:length] if mask[i] is not None), None)
