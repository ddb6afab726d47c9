"""Where FreeSWITCH's expander finds the author's ``${…}``: what every encoder must know.

An argument's start decides how several parsers read it (``%[`` scoped variables,
``^^`` a delimiter, ``{`` speech parameters, ``ARRAY::`` a stored array), and an author's
leading ``${…}`` may expand to nothing, so that whatever follows it is the start. The
expander (src/switch_channel.c, ``switch_channel_expand_variables_check``) delimits a
``${…}`` from the ``$`` to the ``}`` that balances the first ``{``.
"""

from __future__ import annotations


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
        while j < n and text[j] in "\\'$":   # whoever wrote them: a pass may drop them
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


def start_after_expansions(text: str, expansions: list[tuple[int, int]]) -> int:
    """Where the argument starts once FreeSWITCH has expanded the author's leading
    ``${…}`` to nothing (as an unset variable is): the check of rule 4 looks from there."""
    first = 0
    for start, end in expansions:
        if start != first:
            break
        first = end
    return first
