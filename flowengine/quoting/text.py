"""Text that remembers which of its characters came from the call.

Every value that reaches FreeSWITCH is either written by the flow's author (trusted: it may
use FreeSWITCH syntax on purpose, ``${sound_prefix}``) or supplied by the call (a caller ID
name, digits, a channel variable, later an HTTP response: never trusted). The encoders in
this package need to know, character by character, which is which, across any
concatenation: ``${caller_id_name}${caller_id_number}`` with the name ``x$`` and the number
``{system id}`` is harmless in each part and an API call as a whole.

:class:`Text` is a ``str`` (so conditions, comparisons and logs use it as one) that carries
the spans supplied by the call. The rule that keeps this safe by default: **a plain ``str``
is untrusted**. Only the template expander (:mod:`flowengine.flows.templates`) and
:func:`literal` make trusted text; any other string operation returns a plain ``str``, which
the encoders then treat as data from end to end.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple


class Span(NamedTuple):
    """Characters ``[start, end)`` of a text came from the call, through ``source``."""

    start: int
    end: int
    source: str


class Text(str):
    """A string with the spans that came from the call (``data``); the rest is the author's."""

    data: tuple[Span, ...]

    def __new__(cls, value: str = "", data: Iterable[Span] = ()) -> "Text":
        self = super().__new__(cls, value)
        self.data = tuple(data)
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
