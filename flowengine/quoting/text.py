"""Text that remembers which of its characters came from the call.

:class:`Text` is a ``str`` carrying the spans the call supplied, so the encoders judge a
whole argument, never one value alone. **A plain ``str`` is untrusted**: only the template
expander and :func:`literal` make trusted text (docs/security.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

#: control characters (Unicode category Cc: C0, DEL, C1)
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class Span(NamedTuple):
    """Characters ``[start, end)`` of a text came from the call, through ``source``."""

    start: int
    end: int
    source: str


class Text(str):
    """A string with the spans that came from the call (``data``); the rest is the author's."""

    #: the class's empty tuple until a span is given: the author's text (most of it) then has
    #: no instance dict (~170 bytes each, kept by every waiting call)
    data: tuple[Span, ...] = ()

    def __new__(cls, value: str = "", data: Iterable[Span] = ()) -> Text:
        self = super().__new__(cls, value)
        spans = tuple(data)
        if spans:
            self.data = spans
        return self

    def __reduce__(self):
        return (Text, (str(self), self.data))


def literal(value: str) -> Text:
    """The author's own text (a flow value, or a constant a step writes itself)."""
    return Text(value, ())


def data(value: object, source: str = "call data") -> Text:
    """A value supplied by the call, named by where it came from (for error messages)."""
    text = str(value)
    return Text(text, (Span(0, len(text), source),) if text else ())


def spans(value: str, source: str = "call data") -> tuple[Span, ...]:
    """The untrusted spans of any string: a plain ``str`` is untrusted as a whole."""
    if isinstance(value, Text):
        return value.data
    return (Span(0, len(value), source),) if value else ()


def untrusted_mask(value: str, source: str = "call data") -> list[str | None]:
    """Per character: the source that supplied it, or None for the author's text."""
    mask: list[str | None] = [None] * len(value)
    for span in spans(value, source):
        for i in range(span.start, span.end):
            mask[i] = span.source
    return mask


def join(parts: Iterable[str], source: str = "call data") -> Text:
    """Concatenate, keeping every part's untrusted spans (plain ``str`` parts: all untrusted)."""
    out: list[str] = []
    found: list[Span] = []
    offset = 0
    for part in parts:
        for span in spans(part, source):
            found.append(Span(span.start + offset, span.end + offset, span.source))
        out.append(str(part))
        offset += len(part)
    return Text("".join(out), found)


def is_trusted(value: str) -> bool:
    return isinstance(value, Text) and not value.data


def part(value: str, start: int, end: int) -> Text:
    """``value[start:end]`` with the untrusted spans that fall in it."""
    found = [
        Span(max(s.start, start) - start, min(s.end, end) - start, s.source)
        for s in spans(value)
        if s.start < end and s.end > start
    ]
    return Text(str(value)[start:end], found)


def without_controls(value: str) -> str:
    """``value`` with every control character the call supplied written as a space.

    A line end from the call would forge a line wherever the text is written on its own
    (FreeSWITCH's log: a caller name holding ``%0A`` did), other controls would reach a
    SIP header or a speech engine; the author's own are kept (a body may hold the
    author's line breaks, :func:`flowengine.esl.commands.execute`). Replaced, not refused:
    refusing would end the call for a caller ID name, which the caller chooses. Where a
    space from the call is refused (one argument word, a path, a dial target, a name),
    so is a control character, before this runs (:mod:`.words`, :mod:`.dialstring`)."""
    text = str(value)
    if not CONTROL.search(text):
        return value
    mask = untrusted_mask(value)
    if not any(mask[m.start()] for m in CONTROL.finditer(text)):
        return value
    out = "".join(" " if mask[i] is not None and CONTROL.match(c) else c for i, c in enumerate(text))
    return Text(out, spans(value))
