"""One frame of what FreeSWITCH sends: its header block read, and the whole frame made a message.

The parser (:mod:`.parser`) finds where frames start and end in the byte stream; this reads
each one: the header block into (headers, content type, body length), the two-line frames
FreeSWITCH sends for every event and every command reply read directly, and the body made
the message its Content-Type names. With the size caps of one connection, :class:`Limits`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ProtocolError
from .event import Event
from .messages import (
    ApiResponse,
    AuthRequest,
    DisconnectNotice,
    Headers,
    LogData,
    Message,
    RawMessage,
    Reply,
    RudeRejection,
    header,
)
from .wire import shown, wire_int

_CONTENT_TYPES = {
    t.encode(): t
    for t in (
        "text/event-plain",
        "text/event-json",
        "text/event-xml",
        "command/reply",
        "api/response",
        "text/disconnect-notice",
        "log/data",
    )
}

_REPLY_HEAD = b"Content-Type: command/reply\nReply-Text: "
_REPLY_AT = len(_REPLY_HEAD)
#: two-line heads already read (block -> content type, body length) and a reply's text:
#: each event is framed as ``Content-Length: N`` and its type, each reply as ``+OK`` or so
_SEEN: dict[bytes, tuple[str, int]] = {}
_REPLY_TEXT: dict[bytes, str] = {}
_MAX_SEEN = 1024
_MAX_SEEN_HEAD = 160  # bytes: FreeSWITCH's are about 50, a reply with a reason about 100

#: FreeSWITCH's own ceiling for a body (MAX_CONTENT_LENGTH in mod_event_socket).
FREESWITCH_MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Size caps for one connection.

    ``max_header_bytes`` bounds a header block: the largest real one is the connect reply
    (the channel data, ~4-8 KiB, more with many variables), so 1 MiB is generous.
    ``max_body_bytes`` bounds a Content-Length; the default is FreeSWITCH's own limit.
    ``max_preconnect_bytes`` bounds what one connection may have buffered until the reply
    to ``connect`` is in: nothing but that reply comes first, and it is one header block
    of a few KiB (6 KiB for a SIP call), so a peer cannot hold 16 MiB per connection
    before it has even posed as a call. Bytes in the same read as the reply still count
    against it: FreeSWITCH sends nothing more until it gets a command. None: no such cap.
    ``max_headers`` bounds the header lines of one header block or event (the members of
    a JSON event, the elements of an XML one). FreeSWITCH puts every channel variable in
    a channel event (switch_channel_event_set_data) and caps none of it
    (switch_event_add_header); the most in the recordings is 232, a SIP call's
    CHANNEL_HANGUP_COMPLETE with its ~100 variables (CHANNEL_EXECUTE_COMPLETE: 156).
    8,192 leaves room for thousands of variables a dialplan or flow may set, and keeps
    an event read whole (as a name looked up in any case reads it: a tuple, two strings
    and an index entry per header, ~300 bytes) to a few MiB and milliseconds: a 16 MiB
    event of four million ``a:b`` lines cost ~650 MB and seconds of the loop.
    ``max_kept_event_bytes`` bounds an event a call keeps after it is read (not the
    parser's: :class:`~flowengine.esl.protocol.OutboundProtocol` checks it): the
    completion of an application, which the flow holds until the next one and reads
    variables from, and with it the call's channel data. FreeSWITCH's are a few KiB (the
    largest in the recordings: 12 KiB); 1 MiB, as for the connect reply's header block.
    Any event may still be up to ``max_body_bytes``: one the call only looks at is gone
    once read.
    """

    max_header_bytes: int = 1024 * 1024
    max_body_bytes: int = FREESWITCH_MAX_BODY
    max_preconnect_bytes: int | None = 64 * 1024
    max_headers: int = 8192
    max_kept_event_bytes: int = 1024 * 1024


def scan_head(block: bytes, limits: Limits) -> tuple:
    """(headers or None, block, content type, body length) of one header block."""
    ctype: str | None
    seen = _SEEN.get(block)
    if seen is not None:  # a two-line head read before: FreeSWITCH sends the same ones again and again
        known_type, known_length = seen
        if known_type == "command/reply":
            return [("Content-Type", known_type), ("Reply-Text", _REPLY_TEXT[block])], block, known_type, 0
        if known_length <= limits.max_body_bytes:
            return None, block, known_type, known_length
    # FreeSWITCH frames every event as exactly these two lines: read them directly.
    if block.startswith(b"Content-Length: "):
        nl = block.find(b"\n")
        if block.startswith(b"Content-Type: ", nl + 1) and block.find(b"\n", nl + 1) < 0:
            digits = block[16:nl].rstrip(b"\r")
            length = wire_int(digits)
            if length is None or length > limits.max_body_bytes:
                length = content_length(digits, limits)  # raises, with the reason
            raw_type = block[nl + 15 :].rstrip(b"\r")
            ctype = _CONTENT_TYPES.get(raw_type) or raw_type.decode("latin-1")
            if ctype != "command/reply":
                _remember(block, ctype, length)
            return None, block, ctype, length
    # A command's reply is these two lines, once per command: read them directly too.
    if block.startswith(_REPLY_HEAD) and block.find(b"\n", _REPLY_AT) < 0 and b"\r" not in block:
        text = block[_REPLY_AT:].decode("utf-8", "replace")
        _remember(block, "command/reply", 0, text)
        return [("Content-Type", "command/reply"), ("Reply-Text", text)], block, "command/reply", 0
    lines = block.count(b"\n") + 1
    if lines > limits.max_headers:
        raise ProtocolError(
            f"a header block of {lines} lines, over the limit of {limits.max_headers} (Limits.max_headers)"
        )
    # The connect reply is a whole serialized event (~110 headers): keep it lazy.
    if block.startswith(b"Event-Name:") or b"\nEvent-Name:" in block:
        channel = Event.from_plain(block)
        declared = channel.get("Content-Length")
        return (
            None,
            channel,
            channel.get("Content-Type"),
            0 if declared is None else content_length(declared, limits),
        )
    headers: Headers = []
    ctype = None
    length = 0
    for line in block.split(b"\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = name.strip().decode("latin-1")
        text = value.lstrip(b" ").rstrip(b"\r").decode("utf-8", "replace")
        headers.append((key, text))
        lkey = key.lower()
        if lkey == "content-length":
            length = content_length(text, limits)
        elif lkey == "content-type" and ctype is None:
            ctype = text
    if not headers:
        raise ProtocolError("a frame with no header lines")
    return headers, block, ctype, length


def _remember(block: bytes, ctype: str, length: int, text: str | None = None) -> None:
    """Keep a two-line head's reading (and a reply's text) for the next time it comes: a
    bounded number of short ones (an event's head differs only in its length, a reply's in
    its text; a longer one is read each time, never kept)."""
    if len(block) > _MAX_SEEN_HEAD:
        return
    if len(_SEEN) >= _MAX_SEEN:
        _SEEN.clear()
        _REPLY_TEXT.clear()
    _SEEN[block] = (ctype, length)
    if text is not None:
        _REPLY_TEXT[block] = text


def content_length(text: str | bytes, limits: Limits) -> int:
    """The body length a header block declares, refused past ``limits.max_body_bytes``."""
    # FreeSWITCH writes it with %d (MES:read_packet takes 0 to 16 MiB): ASCII digits,
    # a few of them. int() would take "²" or 5,000 digits and raise ValueError instead.
    length = wire_int(text)
    if length is None:
        raise ProtocolError(f"bad Content-Length {shown(text)}")
    if length > limits.max_body_bytes:
        raise ProtocolError(f"Content-Length {length} is over the {limits.max_body_bytes}-byte limit")
    return length


def build_message(headers: Headers | None, block, ctype: str | None, body: bytes) -> Message:
    if ctype == "text/event-plain":
        return Event("plain", body)
    if ctype == "text/event-json":
        return Event("json", body)
    if ctype == "text/event-xml":
        return Event("xml", body)
    if isinstance(block, Event):  # the connect reply: its headers are the channel data
        text = block.get("Reply-Text") or ""
        if ctype == "command/reply":
            return Reply(text, [("Content-Type", ctype), ("Reply-Text", text)], block)
        headers = block.headers()
    elif headers is None:
        headers = [("Content-Length", str(len(body))), ("Content-Type", ctype or "")]
    if ctype == "command/reply":
        return Reply(header(headers, "Reply-Text") or "", headers)
    if ctype == "api/response":
        return ApiResponse(body.decode("utf-8", "replace"), headers)
    if ctype == "text/disconnect-notice":
        return DisconnectNotice(headers, body.decode("utf-8", "replace"))
    if ctype == "log/data":
        return LogData(headers, body.decode("utf-8", "replace"))
    if ctype == "text/rude-rejection":
        return RudeRejection(headers, body.decode("utf-8", "replace"))
    if ctype == "auth/request":
        return AuthRequest(headers)
    return RawMessage(headers, body)
