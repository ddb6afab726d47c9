"""What a number or a text read from FreeSWITCH may be, before anything trusts it."""

from __future__ import annotations

#: how deep a JSON or XML event may nest. FreeSWITCH's are flat: one JSON object of strings
#: and arrays of strings (EVT:switch_event_serialize_json_obj), or <event><headers><Name>
#: (EVT:switch_event_xmlize). Deeper input is refused before it is decoded, so decoding it
#: can neither recurse out of the stack nor take long.
MAX_DEPTH = 4
#: digits in a number read from the wire: FreeSWITCH's largest is a Content-Length of at
#: most 16 MiB (8 digits); int() refuses more than 4,300 digits with a ValueError
MAX_DIGITS = 12


def wire_int(text: str | bytes | None) -> int | None:
    """The non-negative integer FreeSWITCH wrote as ``text``, or None if it is not one.

    ASCII digits only: ``str.isdigit()`` also takes ``"²"`` (which int() then refuses) and
    ``"٣"`` (which int() reads as 3), and nothing FreeSWITCH writes (``%d``) looks like either.
    """
    if not text or len(text) > MAX_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def shown(text: str | bytes, limit: int = 40) -> str:
    """``text`` for an error message, cut short: it came from the wire and may be huge."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return repr(text[:limit]) + ("…" if len(text) > limit else "")
