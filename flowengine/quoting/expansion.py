"""Application arguments: call data can never start a FreeSWITCH expansion.

FreeSWITCH expands every application argument (``switch_channel_expand_variables``), and
``set`` / ``export`` expand it once more. Judged on the whole argument (:mod:`.text`), a ``$``
from the call is spaced apart from what would make an expansion, its backslashes are doubled
once per pass, and what cannot be made safe is refused. The rules, with FreeSWITCH's source:
docs/freeswitch.md, "Application arguments: expansion" and "Where an argument starts".
"""

from __future__ import annotations

from ..errors import UnsafeValue
from .scan import author_expansions, call_in_start, view
from .stored import SETS_VARIABLE, variable_arg
from .text import spans, untrusted_mask, without_controls
from .transfer import transfer_arg

__all__ = ["EXPANDED_TWICE", "app_arg", "author_expansions", "breaks_needed", "passes_for"]

#: applications that expand (part of) their argument a second time (mod_dptools.c base_set,
#: used by set, push and unshift, and eval; export_function does not)
EXPANDED_TWICE = frozenset({"set", "push", "unshift", "eval"})
_NEXT_TO_DOLLAR = frozenset("{$\\'")
_BEFORE_BRACE = frozenset("'\\}")


def passes_for(app: str) -> int:
    """How many times FreeSWITCH expands the argument of ``app``."""
    return 2 if app in EXPANDED_TWICE else 1


def app_arg(value: str, app: str = "", what: str = "application argument") -> str:
    """``value`` (a :class:`~.text.Text`, or a plain str: all call data) as the argument of
    ``app``: the author's FreeSWITCH syntax works, the call's never does."""
    source = next((span.source for span in spans(value) if span.end > span.start), None)
    if source is None:
        return str(value)  # the author's alone: FreeSWITCH syntax on purpose
    value = without_controls(value)
    if app in SETS_VARIABLE:
        value = variable_arg(value, app, what)
    elif app == "transfer":
        value = transfer_arg(value, what)
    text = str(value)
    if "$" not in text and "\\" not in text and not text.startswith("%"):
        return text  # nothing FreeSWITCH could expand or unescape
    mask = untrusted_mask(value)
    expansions = author_expansions(text, mask)
    # the start as switch_core_session_exec reads it: what the expander may remove of the
    # author's text first (an unset ${…}, "\\'") does not count (scan.view)
    seen = view(text, mask)
    head = seen.text[:3]
    if head.startswith("%") and "[" in head[1:]:
        who = call_in_start(seen, mask, head.index("[", 1) + 1)
        if who is not None:
            raise UnsafeValue(
                f"{what}: the value of {who} starts the argument with '%[', which sets "
                f"FreeSWITCH variables: {text[:60]!r}"
            )
    for start, end in expansions:
        inside = next((m for m in mask[start:end] if m), None)
        if inside:
            raise UnsafeValue(
                f"{what}: the value of {inside} would land inside "
                f"{text[start:end][:60]!r}, which FreeSWITCH expands (or runs as an API)"
            )
    if passes_for(app) > 1:
        lone = _lone_dollar(text, mask)
        if lone is not None and any(mask[lone:]):
            # the first pass leaves the author's "$" there on its own (a "$$" not opening
            # "$${" is copied as "$", switch_channel.c; a "\'" after it is dropped), and the
            # second joins it with whatever follows once an expansion between them comes
            # out empty: not with call data
            raise UnsafeValue(
                f"{what}: {app} expands its argument twice, and the author's "
                f"{text[lone : lone + 12]!r} would leave a '$' next to the value of "
                f"{next(m for m in mask[lone:] if m)} in the second pass"
            )
    copies = 2 ** passes_for(app)
    # the character right after an expansion is copied as it is, escape or not (the C walk
    # resumes at the '}' + 1 and writes that byte before looking at the next)
    raw = {end for start, end in expansions if text.startswith(("${", "$${"), start)}
    out: list[str] = []
    breaks = set(breaks_needed(text, mask))
    for i, c in enumerate(text):
        if i in breaks:
            out.append(" ")
        if c == "\\" and mask[i] is not None:
            out.append(c * (copies - 1 if i in raw and i not in breaks else copies))
        else:
            out.append(c)
    return "".join(out)


def _lone_dollar(text: str, mask: list[str | None]) -> int | None:
    """The first author ``$`` followed by ``$``, ``\\`` or ``'`` (what a pass turns into a
    ``$`` of its own), other than ``$${`` (a global); None without one."""
    for i in range(len(text) - 1):
        if (
            text[i] == "$"
            and mask[i] is None
            and text[i + 1] in "$\\'"
            and mask[i + 1] is None
            and not text.startswith("$${", i)
        ):
            return i
    return None


def breaks_needed(text: str, mask: list[str | None]) -> list[int]:
    """Positions before which rule 1 puts a space (a ``$`` and its neighbour, at least one
    of them from the call)."""
    found = []
    for i in range(1, len(text)):
        c, before = text[i], text[i - 1]
        if before == "$" and c in _NEXT_TO_DOLLAR and (mask[i] is not None or mask[i - 1] is not None):
            found.append(i)
        elif c == "{" and mask[i] is not None and before in _BEFORE_BRACE:
            found.append(i)
        elif c == "'" and before == "\\" and (mask[i] is not None or mask[i - 1] is not None):
            found.append(i)  # "\\'" is deleted by a pass, joining its neighbours
    return found
