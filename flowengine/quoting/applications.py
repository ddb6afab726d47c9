"""Which applications an ``execute`` step may hand call data to, and how it is made inert.

An allowlist: call data may reach only the argument of ``log``, ``playback``,
``endless_playback``, ``send_dtmf`` and ``sleep``, each encoded for how that application
parses it; every other application takes the author's text alone, and call data there is
:class:`~flowengine.errors.UnsafeValue` before a byte is written. How each reads its argument,
with FreeSWITCH's source: docs/freeswitch.md, "execute".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ..errors import UnsafeValue
from .expansion import author_expansions
from .paths import path
from .text import Text, spans, untrusted_mask
from .words import name

#: what call data may be in ``send_dtmf``: the DTMF digits (switch_core_io.c, is_dtmf,
#: without the ``w``/``W`` pauses and ``F`` flash)
DTMF_CHARS = re.compile(r"[0-9*#A-Da-d]")
#: switch_core_session_send_dtmf_string drops a longer string whole
MAX_DTMF = 99
DIGITS = re.compile(r"[0-9]")
#: an API the author runs (``${strftime(%Y)}``, ``${expr 1+1}``): the author's own code
_API = re.compile(r"\$\$?\{[A-Za-z_][A-Za-z0-9_]*[ (]")
#: control characters (C0, DEL, C1): from the call, a space in a log message
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: the longest ``sleep`` call data may set: a day, as the ``sleep`` step allows
MAX_SLEEP_MS = 24 * 3600 * 1000


def _first_source(mask: list[str | None]) -> str:
    return next(m for m in mask if m is not None)


def _log(value: str, what: str) -> str:
    text = str(value)
    mask = untrusted_mask(value)
    if not any(mask):
        return value
    # a space inside the author's ${…} is gone once FreeSWITCH has expanded it
    inside = {i for start, end in author_expansions(text, mask) for i in range(start, end)}
    space = next((i for i, c in enumerate(text) if c == " " and i not in inside), -1)
    if space < 0 or any(mask[: space + 1]):
        raise UnsafeValue(
            f"{what}: the value of {_first_source(mask)} would stand where log reads its level "
            "(the word before the first space): write the level first, e.g. log INFO …"
        )
    out = "".join(" " if mask[i] is not None and _CONTROL.match(c) else c for i, c in enumerate(text))
    return Text(out, spans(value))


def _file(value: str, what: str) -> str:
    text = str(value)
    mask = untrusted_mask(value)
    if not any(mask):
        return value
    path(value, what)  # no '@' from the call either
    inside = {i for start, end in author_expansions(text, mask) for i in range(start, end)}
    special = next((c for i, c in enumerate(text) if c in ":{[" and i not in inside), None)
    if special is None and "@@" in text:
        special = "@@"
    if special is not None:
        raise UnsafeValue(
            f"{what}: with the value of {_first_source(mask)} in it the argument may only be a "
            f"plain file path, and {special!r} names a module, a prefix, file parameters or a "
            "sample offset: use the playback step"
        )
    return value


def _dtmf(value: str, what: str) -> str:
    if not any(untrusted_mask(value)):
        return value
    name(value, what, DTMF_CHARS)
    if len(value) > MAX_DTMF:
        raise UnsafeValue(f"{what} is {len(value)} characters: send_dtmf drops a string over {MAX_DTMF}")
    return value


def _milliseconds(value: str, what: str) -> str:
    if not any(untrusted_mask(value)):
        return value
    name(value, what, DIGITS)
    text = str(value)
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) > MAX_SLEEP_MS:
        raise UnsafeValue(f"{what}: {text[:20]!r} is not a number of milliseconds up to {MAX_SLEEP_MS} (24h)")
    return value


#: the applications whose argument may hold call data (see the module), each with its
#: encoder: ``encode(value, what)`` gives the argument with the call's part made inert for
#: how the application reads it (a :class:`~.text.Text` keeps its marks for
#: :func:`.expansion.app_arg`), or raises UnsafeValue
ALLOWED: dict[str, Callable[[str, str], str]] = {
    "log": _log,  # [level ]message
    "playback": _file,  # a file path
    "endless_playback": _file,
    "send_dtmf": _dtmf,  # DTMF digits
    "sleep": _milliseconds,  # milliseconds
}


def allowed_names() -> str:
    """``endless_playback, log, …``: for messages."""
    return ", ".join(sorted(ALLOWED))


def argument(app: str, value: str, sources: Iterable[str] = ()) -> str:
    """``value`` (the expanded argument) for ``app``: encoded by the application's entry,
    or, for an application not listed, refused when any of it came from the call, or would
    (a ``${name}`` left for FreeSWITCH to fill: what the channel holds then is not the
    engine's to vouch for; the author's own API calls stay). ``sources``: names the call
    gave a value to while expanding it, empty ones too (an empty value leaves no character,
    but still moves the words after it)."""
    what = f"execute {app}"
    encode = ALLOWED.get(app)
    if encode is not None:
        return encode(value, what)
    mask = untrusted_mask(value)
    source = next(iter(sources), None) or next((m for m in mask if m is not None), None)
    if source is not None:
        raise UnsafeValue(
            f"{what}: the value of {source} would reach {app}, which takes no call data (it may "
            f"run it, dial it or read it as more arguments); only {allowed_names()} take call "
            "data: use a step made for the purpose, or a flow variable set to the flow's own text"
        )
    text = str(value)
    for start, end in author_expansions(text, mask):
        if not _API.match(text, start):
            raise UnsafeValue(
                f"{what}: FreeSWITCH would fill {text[start:end][:48]!r} from the channel (the engine "
                f"has no value for it), and {app} takes no call data"
            )
    return value


def log_level_first(template: str, names: list[tuple[int, int, str]]) -> bool:
    """For ``--check``: in a ``log`` argument as written, does the author's text reach the
    first space before any value that can hold call data? ``names``: (start, end, name) of
    each such ``${…}``; a space inside any ``${…}`` does not count (it is expanded away)."""
    ranges = [(s, e) for s, e, _ in names]
    inside = {i for start, end in author_expansions(template, [None] * len(template)) for i in range(start, end)}
    for i, c in enumerate(template):
        if any(s <= i < e for s, e in ranges):
            return False
        if c == " " and i not in inside:
            return True
    return False
