"""What a number or a text read from FreeSWITCH may be, before anything trusts it."""

from __future__ import annotations

from ..errors import ProtocolError

#: how deep a JSON or XML event may nest. FreeSWITCH's are flat: one JSON object of strings
#: and arrays of strings (EVT:switch_event_serialize_json_obj), or <event><headers><Name>
#: (EVT:switch_event_xmlize). Deeper input is refused before it is decoded, so decoding it
#: can neither recurse out of the stack nor take long.
MAX_DEPTH = 4
#: digits in a number read from the wire: FreeSWITCH's largest is a Content-Length of at
#: most 16 MiB (8 digits); int() refuses more than 4,300 digits with a ValueError
MAX_DIGITS = 12
#: Headers FreeSWITCH fills with a UUID, a name, a word or a number (switch_event.c
#: switch_event_prep_for_delivery_detailed: Event-Name, Core-UUID, FreeSWITCH-Hostname;
#: switch_channel_event_set_basic_data: Unique-ID; mod_event_socket.c: Socket-Mode,
#: Control; switch_core_session.c, switch_core_session_exec: Application, Application-UUID;
#: switch_channel.c: Hangup-Cause, DTMF-*) and the engine reads by name. Their values are
#: at most :data:`MAX_SHORT_VALUE` bytes as written (``%XX`` counted as three; characters
#: once decoded in a JSON or XML event).
SHORT_HEADERS = frozenset(
    (
        "Event-Name",
        "Unique-ID",
        "Channel-Unique-ID",
        "Core-UUID",
        "FreeSWITCH-Hostname",
        "Job-UUID",
        "Application",
        "Application-UUID",
        "Event-UUID",
        "Hangup-Cause",
        "DTMF-Digit",
        "DTMF-Source",
        "Socket-Mode",
        "Control",
    )
)
#: a UUID is 36 bytes, the longest event or cause name under 40, a host name at most 255
MAX_SHORT_VALUE = 256


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


def too_long(name: str, size: int) -> ProtocolError:
    """The error for one of :data:`SHORT_HEADERS` holding ``size`` bytes, over the limit."""
    return ProtocolError(
        f"the {name} header of an event holds {size} bytes, over the limit of {MAX_SHORT_VALUE} "
        "for the headers FreeSWITCH fills with a UUID or a name (esl.wire.MAX_SHORT_VALUE)"
    )
