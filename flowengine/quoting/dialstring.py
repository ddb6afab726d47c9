"""Dial strings (``bridge``): call data fills a number, never the string's structure.

A target's call data may hold only what a number or SIP user part needs
(:data:`TARGET_CHARS`), anything else is refused; in a ``{…}`` / ``[…]`` variable's value the
characters that would end the block or the pair, a ``:`` and a ``|``, are spaces; and a
variable the author's blocks set takes call data only where :mod:`.variables` allows it
(:mod:`.blocks`: none where FreeSWITCH runs or routes by it, a path where it plays it). The rules,
with FreeSWITCH's source (switch_ivr_originate.c, switch_event_create_brackets):
docs/freeswitch.md, "Dial strings".
"""

from __future__ import annotations

import re

from ..errors import UnsafeValue
from .blocks import checked_blocks, variable_problems
from .text import Span, Text, untrusted_mask

__all__ = ["TARGET_CHARS", "target", "variable_problems", "variable_value", "whole"]

#: what call data may contain inside a dial target: digits, letters, + * # . _ -
TARGET_CHARS = re.compile(r"[A-Za-z0-9+*#._-]*")

_MEANING = {
    ",": "rings another target at the same time",
    "|": "rings another target in turn",
    ":": "can separate enterprise groups (:_:)",
    "[": "opens a leg's variables",
    "]": "closes a leg's variables",
    "{": "opens the call's variables",
    "}": "closes the call's variables",
    "<": "opens a group's variables",
    ">": "closes a group's variables",
    "/": "names another endpoint or gateway",
    "@": "names another domain or host",
    ";": "adds SIP URI parameters",
    "$": "starts a FreeSWITCH expansion",
    "\\": "escapes in FreeSWITCH's parsers",
}

#: characters that end a ``name=value`` pair or a variable block (and the ``^^`` delimiter
#: override of switch_event_create_brackets), and controls (the value may become a SIP
#: header, the caller ID); in a value they become a space
_BLOCK_UNSAFE = re.compile(r"[,\[\]{}<>|^'\"\\\x00-\x1f\x7f-\x9f]")
#: from the call, also '=' (see variable_value) and ':' (``:_:`` splits the whole dial
#: string into enterprise groups wherever it stands, brackets or not:
#: switch_ivr_enterprise_originate, switch_separate_string_string)
_CALL_UNSAFE = frozenset("=:")


def target(value: str, what: str = "bridge target") -> str:
    """One leg's endpoint (``user/${caller_id_number}``), with any blocks the author wrote
    before it; refuses call data that is not a plain number or user name, and call data in a
    block's variable where FreeSWITCH runs, routes by or plays it
    (:func:`.blocks.checked_blocks`: switch_event_create_brackets makes each ``name=value``
    a channel variable of the new leg, and switch_channel_api_on / switch_channel_execute_on
    run the ``api_on_*`` / ``execute_on_*`` ones when it answers)."""
    text = str(value)
    mask = untrusted_mask(value)
    for i, c in enumerate(text):
        if mask[i] is not None and not TARGET_CHARS.fullmatch(c):
            meaning = _MEANING.get(c, "is not part of a number" if not c.isspace() else "separates dial string words")
            raise UnsafeValue(
                f"{what}: the value of {mask[i]} contains {c!r}, which {meaning} "
                f"in a FreeSWITCH dial string: {text[:60]!r}"
            )
    return checked_blocks(value, what)


def whole(value: str) -> str:
    """The assembled dial string: refuses a ``:_:`` the call helped to write (the author's
    ``:`` next to a call's ``_``), and call data in the variables of its blocks as
    :func:`target` does — judged again on the whole, since a block one target opens may run
    into the next (switch_find_end_paren looks for its end across the legs)."""
    text = str(value)
    mask = untrusted_mask(value)
    at = text.find(":_:")
    while at != -1:
        if any(mask[at : at + 3]):
            raise UnsafeValue(
                f"bridge: the value of {next(m for m in mask[at : at + 3] if m)} completes "
                f"':_:', which FreeSWITCH reads as another group of targets: {text[:60]!r}"
            )
        at = text.find(":_:", at + 1)
    return checked_blocks(value, "bridge")


def variable_value(value: str) -> Text:
    """A value inside ``{…}`` / ``[…]``: what would end the pair or block becomes a space.

    The author's part is cleaned too (a comma there would cut the pair just the same);
    the result keeps the call's spans, for the argument's own encoding."""
    text = str(value)
    mask = untrusted_mask(value)
    # '=' from the call too: originate switches its variable check off when the dial string
    # anywhere reads "origination_nested_vars=true" (switch_ivr_originate.c, switch_stristr)
    text = "".join(" " if c in _CALL_UNSAFE and mask[i] else c for i, c in enumerate(text))
    cleaned = _BLOCK_UNSAFE.sub(" ", text)
    stripped = cleaned.strip()
    lead = len(cleaned) - len(cleaned.lstrip())
    mask = mask[lead : lead + len(stripped)]
    found: list[Span] = []
    i = 0
    while i < len(mask):
        source = mask[i]
        if source is None:
            i += 1
            continue
        j = i
        while j < len(mask) and mask[j] == source:
            j += 1
        found.append(Span(i, j, source))
        i = j
    return Text(stripped, found)
