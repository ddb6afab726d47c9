"""The argument of ``speak``: the author's engine and voice, the text from anywhere.

With an engine and a voice the argument is ``engine|voice|text`` and the text is the rest;
without, a ``|`` from the call is spoken as a pause and a leading ``^^`` is refused; a ``{``
the call puts first (TTS parameters) is spoken as a parenthesis. Call data can therefore never
choose the engine, the voice or their parameters. The rules, with FreeSWITCH's source
(speak_function, switch_core_speech_feed_tts): docs/freeswitch.md, "speak".
"""

from __future__ import annotations

from ..errors import UnsafeValue
from .scan import call_in_start, view
from .text import Span, Text, join, literal, untrusted_mask, without_controls

#: what an engine or voice name may be (the author's only)
NAME_PATTERN = r"^[A-Za-z0-9_.:-]+$"


def _spaced(text: str) -> Text:
    """``text`` with every ``|`` the call supplied replaced by a space, marks kept."""
    mask = untrusted_mask(text)
    chars = [" " if c == "|" and mask[i] is not None else c for i, c in enumerate(str(text))]
    spans = text.data if isinstance(text, Text) else (Span(0, len(text), "call data"),) if text else ()
    return Text("".join(chars), spans)


def _first(text: str) -> int:
    """Where FreeSWITCH starts reading the text: past blanks and the author's text the
    expander may remove (a ``${…}`` that expands to nothing, ``\\'``: :func:`.scan.view`)."""
    raw = str(text)
    seen = view(raw, untrusted_mask(text))
    at = 0
    while at < len(seen.text) and seen.text[at] in " \t":
        at += 1
    return seen.where[at] if at < len(seen.text) else len(raw)


def _no_parameters(text: str) -> Text:
    """``text`` with a leading ``{`` the call supplied spoken as ``(`` (see the module)."""
    at = _first(text)
    raw = str(text)
    if at >= len(raw) or raw[at] != "{" or untrusted_mask(text)[at] is None:
        return text if isinstance(text, Text) else Text(raw, (Span(0, len(raw), "call data"),) if raw else ())
    spans = text.data if isinstance(text, Text) else (Span(0, len(raw), "call data"),)
    return Text(raw[:at] + "(" + raw[at + 1 :], spans)


def speak_arg(text: str, engine: str | None, voice: str | None) -> Text:
    """``engine|voice|text``, or the text alone when neither is given (see the module)."""
    if not str(text).strip():
        raise UnsafeValue("speak: the text is empty: the caller would hear nothing")
    # a control character (the argument's encoding makes it a space) and, with no engine
    # and voice, a '|' from the call (spoken as a space) count as blanks before a '{'
    text = without_controls(text)
    if engine and voice:
        return join([literal(f"{engine}|{voice}|"), _no_parameters(text)])
    if engine or voice:
        raise UnsafeValue("speak: give both the engine and the voice, or neither")
    spoken = _no_parameters(_spaced(text))
    mask = untrusted_mask(spoken)
    if "|" in str(spoken):
        raise UnsafeValue(
            f"speak: the text {str(spoken)[:60]!r} holds '|', which FreeSWITCH reads as "
            "voice|text when no engine and voice are given: give them (or a flow's tts:)"
        )
    seen = view(str(spoken), mask)  # as switch_separate_string sees its start
    if seen.text.startswith("^^"):
        who = call_in_start(seen, mask, 3)
        raise UnsafeValue(
            f"speak: {'the value of ' + who if who else 'the text'} starts with '^^', which "
            "changes FreeSWITCH's delimiter"
        )
    return spoken
