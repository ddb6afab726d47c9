"""How FreeSWITCH reads the numbers of an application's argument, for the scripted FreeSWITCH.

The step kinds play an application from the argument their own steps write (plain decimal
words); an engine may send any text. FreeSWITCH reads each number with C's ``atoi`` (a word
that is no number is 0, a larger one wraps), so an argument is played by its step kind only
where that reads the same numbers; where FreeSWITCH runs nothing the scripted one answers
so too, and anything else is refused (:class:`~.bounds.Unplayable`) rather than guessed.
"""

from __future__ import annotations

import re

from ..flows.steps.play_and_get_digits import SCHEMA as _PAGD_SCHEMA
from ..replay.command_reader import api_words
from .bounds import Unplayable

#: tries of one play_and_get_digits: FreeSWITCH takes any (uint32, a second or more each:
#: mod_dptools.c play_and_get_digits_function; switch_ivr_play_say.c, switch_play_and_get_digits),
#: the scripted one what a flow's step may ask
MAX_TRIES = int(_PAGD_SCHEMA["properties"]["tries"]["maximum"])  # type: ignore[index]
#: the characters of its argument the scripted FreeSWITCH reads (a step writes a few hundred)
MAX_ARGUMENT = 64 * 1024

_ATOI = re.compile(r"[ \t\n\v\f\r]*([+-]?)0*([0-9]+)")
_PLAIN = re.compile(r"-?[0-9]{1,9}")  # what the step kinds write, and Python's int() reads alike
_LONG = 1 << 63


def atoi(text: str) -> int:
    """C's ``atoi`` as glibc has it, ``(int) strtol(text, NULL, 10)``: blanks, a sign, digits
    (0 without any), saturated to a long, then cut to 32 bits."""
    found = _ATOI.match(text)
    if found is None:
        return 0
    sign, digits = found.groups()
    value = int(digits) if len(digits) <= 19 else _LONG  # beyond a long: strtol saturates
    value = (max(-value, -_LONG) if sign == "-" else min(value, _LONG - 1)) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def runs_nothing(app: str, arg: str) -> tuple[str, ...] | None:
    """None where the step kind plays ``app`` with ``arg``; else FreeSWITCH runs nothing of
    it, and these are the channel variables it clears all the same (the scripted FreeSWITCH
    sends the completion alone). Raises :class:`Unplayable` for an argument the step kind
    would read otherwise than FreeSWITCH."""
    if app != "play_and_get_digits":
        return None
    return _digits_nothing(arg)


def _digits_nothing(arg: str) -> tuple[str, ...] | None:
    """play_and_get_digits: min, max, tries, timeout as ``atoi`` reads them; tries is a
    uint32 counted down to 0, so 0 runs nothing but the clearing of ``<var>_invalid`` (when a
    regexp and a variable are given: switch_play_and_get_digits)."""
    if len(arg) > MAX_ARGUMENT:
        raise Unplayable(
            f"play_and_get_digits with an argument of {len(arg)} characters: the scripted FreeSWITCH "
            f"reads at most {MAX_ARGUMENT} (a flow's steps write a few hundred)"
        )
    words = api_words(arg, 11)  # switch_separate_string(mydata, ' ', argv, 11)
    tries = atoi(words[2]) if len(words) > 2 else 0
    if tries == 0:
        return (words[7] + "_invalid",) if len(words) > 8 and words[7] and words[8] else ()
    if not 0 < tries <= MAX_TRIES:
        shown = tries if tries > 0 else f"{tries & 0xFFFFFFFF} (atoi wraps {words[2][:30]!r} to a negative int)"
        raise Unplayable(
            f"play_and_get_digits with {shown} tries: FreeSWITCH asks that often, a second or more "
            f"each; the scripted FreeSWITCH plays 1 to {MAX_TRIES}, as a flow's step may ask"
        )
    plain = arg.split(" ")[:4]
    if len(plain) < 3 or not all(_PLAIN.fullmatch(word) for word in plain):
        raise Unplayable(
            f"play_and_get_digits {arg[:80]!r}: its first words are not plain numbers (min max tries "
            "timeout); FreeSWITCH reads each with atoi, a word that is none as 0. The scripted "
            "FreeSWITCH plays only plain numbers, as a flow's steps write them"
        )
    return None
