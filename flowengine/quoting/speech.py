"""The argument of ``speak``: the author's engine and voice, the text from anywhere.

mod_dptools.c ``speak_function`` splits its argument with
``switch_separate_string(mydata, '|', argv, 3)``: one part is the text (engine and voice
from the channel's ``tts_engine`` / ``tts_voice``), two are ``voice|text``, three
``engine|voice|text``; the last slot takes the rest of the string, and the text is taken
from the unsplit argument at that slot's offset ("unstripped text"). So:

- with an engine and a voice the argument is ``engine|voice|text`` and the text may hold
  anything, ``|`` included: it is the rest;
- with neither, the text is the whole argument and a ``|`` in it would make what stands
  before it the voice (and a second one the engine), and a leading ``^^X`` would make
  ``X`` the delimiter (switch_utils.c, switch_separate_string). A ``|`` from the call is
  then spoken as a pause (a space) instead; the author's own ``|`` or ``^^`` there, and one
  the call put at the start, is refused.

The text itself may open with TTS parameters: switch_core_speech.c,
switch_core_speech_feed_tts, skips leading blanks and reads ``{name=value,…}`` there as
parameters for the engine (mod_tts_commandline takes ``voice`` from them, mod_unimrcp
makes them MRCP headers). A ``{`` the call puts first — after blanks, and after the
author's text the expander may remove (a ``${…}`` that expands to nothing, ``\\'``) — is
spoken as a parenthesis instead.

The argument travels as it is (:func:`flowengine.esl.commands.execute` sends it as the
sendmsg body), so its start is its first character: an ``ARRAY::`` the call puts there is
spoken, never dropped to make what follows the start (as the ``execute-app-arg`` header
would: ``ARRAY::%;[tts_engine=…]{voice=…}Hello`` chose the engine and the voice there).
Control characters from the call are spaces, and count as blanks before a ``{``, as a
``|`` from the call spoken as a space does.

Call data can therefore never choose the engine, the voice or their parameters.
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
