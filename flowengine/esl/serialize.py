"""FreeSWITCH's side of event frames: what a simulated or replayed switch sends us.

Values are url-encoded as FreeSWITCH does (switch_url_encode, :mod:`.urlcode`): bytes below
0x20 and from 0x7F, and `` "#%&+:;<=>?@[\\]^`{|}`` become ``%XX``; ``/ , ' * ! ( ) $ ~`` stay,
and so does a ``%`` already followed by two uppercase hex digits.
"""

from __future__ import annotations

from .urlcode import encode


def encode_value(value: str) -> str:
    """A header value as switch_event_serialize writes it: url-encoded, ``_undef_`` when empty."""
    return encode(value) or "_undef_"


def plain_event(pairs: list[tuple[str, str]], body: str | None = None) -> bytes:
    """A whole ``text/event-plain`` frame for these headers (and inner body)."""
    lines = "".join(f"{name}: {encode_value(value)}\n" for name, value in pairs)
    if body is not None:
        data = body.encode()
        inner = (lines + f"Content-Length: {len(data)}\n\n").encode() + data
    else:
        inner = (lines + "\n").encode()
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(inner) + inner


def reply(text: str, *headers: tuple[str, str]) -> bytes:
    extra = "".join(f"{k}: {v}\n" for k, v in headers)
    return f"Content-Type: command/reply\nReply-Text: {text}\n{extra}\n".encode()


def disconnect_notice(uuid: str, linger: bool) -> bytes:
    if linger:
        return (
            f"Content-Type: text/disconnect-notice\nControlled-Session-UUID: {uuid}\n"
            "Content-Disposition: linger\nLinger-Time: -1\nContent-Length: 0\n\n"
        ).encode()
    body = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
    return (
        f"Content-Type: text/disconnect-notice\nControlled-Session-UUID: {uuid}\n"
        f"Content-Disposition: disconnect\nContent-Length: {len(body)}\n\n"
    ).encode() + body


#: what FreeSWITCH answers to session commands (mod_event_socket's parse_command)
CONTROL_REPLIES = {
    "myevents": "+OK Events Enabled",
    "linger": "+OK will linger",
    "nolinger": "+OK will not linger",
    "event": "+OK event listener enabled plain",
    "nixevent": "+OK events nixed",
    "noevents": "+OK no longer listening for events",
    "divert_events": "+OK events diverted",
    "resume": "+OK",
    "log": "+OK log level set",
    "nolog": "+OK no longer logging",
}


def api_response(body: str) -> bytes:
    """``api/response`` as FreeSWITCH frames it (api_capabilities)."""
    data = body.encode()
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(data) + data
