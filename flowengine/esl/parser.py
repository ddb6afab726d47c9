"""Incremental parser for what FreeSWITCH sends: feed it bytes, get whole messages.

No I/O: the session, the replay tools and the benchmarks all feed it the same way, and
any chunking of the same bytes gives the same messages. Memory is bounded: a header block
or a body over its limit is a :class:`ProtocolError`, never a bigger buffer; so is holding
more than ``hold_limit`` bytes (the protocol sets it until the connect reply is in), or
holding the most when a shared :class:`BufferBudget` (the server's cap over all its
calls) is full; so is an event of more header lines than ``Limits.max_headers``, which
would cost tens of times its size to read. Bad input of any kind raises
:class:`ProtocolError` and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ProtocolError
from .budget import BufferBudget
from .event import Event, shown, wire_int
from .header_count import EVENT_TYPES, check_headers
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


class Parser:
    """Turns a byte stream from FreeSWITCH into messages, in order.

    After a :class:`ProtocolError` the stream has no recoverable frame boundary; the
    parser stays broken and the connection must be ended.
    """

    __slots__ = (
        "limits",
        "budget",
        "hold_limit",
        "on_evicted",
        "_buf",
        "_head",
        "_head_size",
        "_searched",
        "_charged",
        "_pool",
        "_error",
    )

    def __init__(self, limits: Limits = Limits(), *, budget: BufferBudget | None = None) -> None:
        self.limits = limits
        self.budget = budget  # shared with other connections, or None
        self.hold_limit: int | None = None  # a cap on what this one may hold, or None
        # told when the budget ends this connection to make room for another's read (see
        # BufferBudget): the owner closes it at its next turn. Set it to None at close:
        # it refers back to the owner.
        self.on_evicted: Callable[[ProtocolError], None] | None = None
        self._buf = bytearray()  # only what a previous feed left incomplete
        self._head: tuple | None = None  # (headers, block, content type, length): waiting for a body
        self._head_size = 0  # the bytes of that pending header block
        self._searched = 0  # how far the pending partial header block was searched
        self._charged = 0  # what this parser holds against the budget
        self._pool: BufferBudget | None = None  # the budget (or its preconnect pool) charged
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet make a whole message (a pending header block too)."""
        return len(self._buf) + self._head_size

    @property
    def error(self) -> ProtocolError | None:
        """Why this parser is broken (its next feed raises it), or None."""
        return self._error

    def release(self) -> None:
        """The connection is done: drop what is buffered, give its bytes back to the budget."""
        self._fail(ProtocolError("the connection was closed"))

    def lift_hold(self) -> None:
        """The connect reply is in (a call now): no ``hold_limit`` any more, and what is
        held moves from the budget's pool for such connections to the budget itself."""
        self.hold_limit = None
        if self._charged and self._error is None:
            try:
                self._account()
            except ProtocolError as exc:
                self._fail(exc)
                raise

    def feed(self, data: bytes) -> list[Message]:
        """The messages these bytes complete, in order (maybe none)."""
        if self._error is not None:
            raise self._error
        # Work on the caller's bytes when nothing is pending: a body is then one slice,
        # one copy. Only an incomplete tail is kept, in a bytearray.
        if self._buf:
            self._buf += data
            buf: bytes | bytearray = self._buf
        else:
            buf = data
        out: list[Message] = []
        pos = 0
        size = len(buf)
        try:
            while pos < size:
                if self._head is None:
                    if buf[pos] in (10, 13):
                        pos = self._skip_blank(buf, pos)
                        continue
                    head = self._read_head(buf, pos)
                    if head is None:
                        break
                    self._head, pos = head
                headers, block, ctype, length = self._head
                if size - pos < length:
                    break
                if type(buf) is bytes:
                    body = buf[pos : pos + length]
                else:
                    body = bytes(memoryview(buf)[pos : pos + length])
                pos += length
                self._head = None
                self._head_size = 0
                if ctype in EVENT_TYPES and len(body) > self.limits.max_headers:
                    check_headers(ctype, body, self.limits.max_headers)
                out.append(_build(headers, block, ctype, body))
            if buf is self._buf:
                del self._buf[:pos]
            elif pos < size:
                self._buf = bytearray(memoryview(buf)[pos:])
            self._searched = max(0, self._searched - pos)
            if self.hold_limit is not None or self._charged or (self.budget is not None and self.buffered):
                self._account()
        except ProtocolError as exc:
            self._fail(exc)
            raise
        return out

    def _account(self) -> None:
        """Keep what is held under ``hold_limit`` and charge it to the budget."""
        held = self.buffered
        cap = self.hold_limit
        if cap is not None:
            # a pending body will be held whole: refuse it now, not once it has come
            coming = held if self._head is None else self._head_size + self._head[3]
            if coming > cap:
                raise ProtocolError(
                    f"{coming} bytes of a message before the reply to connect, over the "
                    f"{cap}-byte limit (Limits.max_preconnect_bytes)"
                )
        budget = self.budget
        if budget is not None:
            # before the connect reply (hold_limit set), the budget's pool for such connections
            pool = budget.preconnect if cap is not None and budget.preconnect is not None else budget
            if pool is not self._pool:
                if self._pool is not None:
                    self._pool._give_back(self)
                self._pool = pool
            pool._charge(self, held)

    def _fail(self, exc: ProtocolError) -> None:
        """No frame boundary can be found again: drop the buffer, give back its charge."""
        self._error = exc
        self._buf = bytearray()
        self._head = None
        self._head_size = 0
        if self._pool is not None:
            self._pool._give_back(self)
        self._charged = 0

    def _evict(self, exc: ProtocolError) -> None:
        """Ended by the budget for another connection's read: fail, and tell the owner."""
        self._fail(exc)
        if self.on_evicted is not None:
            self.on_evicted(exc)

    @staticmethod
    def _skip_blank(buf: bytes | bytearray, pos: int) -> int:
        end = len(buf)
        while pos < end and buf[pos] in (10, 13):
            pos += 1
        return pos

    def _read_head(self, buf: bytes | bytearray, pos: int) -> tuple[tuple, int] | None:
        limit = self.limits.max_header_bytes
        # resume where the last search of this partial block stopped (minus a separator)
        origin = max(pos, self._searched - 2)
        end = buf.find(b"\n\n", origin, pos + limit + 2)
        stop = len(buf) if end < 0 else end
        crlf = buf.find(b"\n\r\n", origin, stop)
        if crlf >= 0:
            end, skip = crlf, 3
        elif end >= 0:
            skip = 2
        else:
            if len(buf) - pos > limit:
                raise ProtocolError(f"header block longer than {limit} bytes")
            self._searched = len(buf)
            return None
        self._searched = 0
        if end - pos > limit:
            raise ProtocolError(f"header block longer than {limit} bytes")
        self._head_size = end - pos  # held with the head until its body is in
        return self._scan(bytes(buf[pos:end])), end + skip

    def _scan(self, block: bytes) -> tuple:
        """(headers or None, block, content type, body length) of one header block."""
        ctype: str | None
        # FreeSWITCH frames every event as exactly these two lines: read them directly.
        if block.startswith(b"Content-Length: "):
            nl = block.find(b"\n")
            if block.startswith(b"Content-Type: ", nl + 1) and block.find(b"\n", nl + 1) < 0:
                digits = block[16:nl].rstrip(b"\r")
                length = wire_int(digits)
                if length is None or length > self.limits.max_body_bytes:
                    length = self._content_length(digits)  # raises, with the reason
                raw_type = block[nl + 15 :].rstrip(b"\r")
                ctype = _CONTENT_TYPES.get(raw_type) or raw_type.decode("latin-1")
                return None, block, ctype, length
        # A command's reply is these two lines, once per command: read them directly too.
        if block.startswith(_REPLY_HEAD) and block.find(b"\n", _REPLY_AT) < 0 and b"\r" not in block:
            text = block[_REPLY_AT:].decode("utf-8", "replace")
            return [("Content-Type", "command/reply"), ("Reply-Text", text)], block, "command/reply", 0
        lines = block.count(b"\n") + 1
        if lines > self.limits.max_headers:
            raise ProtocolError(
                f"a header block of {lines} lines, over the limit of {self.limits.max_headers} (Limits.max_headers)"
            )
        # The connect reply is a whole serialized event (~110 headers): keep it lazy.
        if block.startswith(b"Event-Name:") or b"\nEvent-Name:" in block:
            channel = Event.from_plain(block)
            declared = channel.get("Content-Length")
            return (
                None,
                channel,
                channel.get("Content-Type"),
                0 if declared is None else self._content_length(declared),
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
                length = self._content_length(text)
            elif lkey == "content-type" and ctype is None:
                ctype = text
        if not headers:
            raise ProtocolError("a frame with no header lines")
        return headers, block, ctype, length

    def _content_length(self, text: str | bytes) -> int:
        # FreeSWITCH writes it with %d (MES:read_packet takes 0 to 16 MiB): ASCII digits,
        # a few of them. int() would take "²" or 5,000 digits and raise ValueError instead.
        length = wire_int(text)
        if length is None:
            raise ProtocolError(f"bad Content-Length {shown(text)}")
        if length > self.limits.max_body_bytes:
            raise ProtocolError(f"Content-Length {length} is over the {self.limits.max_body_bytes}-byte limit")
        return length


def _build(headers: Headers | None, block, ctype: str | None, body: bytes) -> Message:
    if ctype == "text/event-plain":
        return Event.from_plain(body)
    if ctype == "text/event-json":
        return Event.from_json(body)
    if ctype == "text/event-xml":
        return Event.from_xml(body)
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
