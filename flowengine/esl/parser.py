"""Incremental parser for what FreeSWITCH sends: feed it bytes, get whole messages.

No I/O: the session, the replay tools and the benchmarks all feed it the same way, and
any chunking of the same bytes gives the same messages. Memory is bounded: a header block
or a body over its limit is a :class:`ProtocolError`, never a bigger buffer.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from ..errors import ProtocolError
from .event import Event
from .messages import (ApiResponse, AuthRequest, DisconnectNotice, Headers, LogData, Message,
                       RawMessage, Reply, RudeRejection)

#: FreeSWITCH's own ceiling for a body (MAX_CONTENT_LENGTH in mod_event_socket).
FREESWITCH_MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Size caps for one connection.

    ``max_header_bytes`` bounds a header block: the largest real one is the connect reply
    (the channel data, ~4-8 KiB, more with many variables), so 1 MiB is generous.
    ``max_body_bytes`` bounds a Content-Length; the default is FreeSWITCH's own limit.
    """

    max_header_bytes: int = 1024 * 1024
    max_body_bytes: int = FREESWITCH_MAX_BODY


class Parser:
    """Turns a byte stream from FreeSWITCH into messages, in order.

    After a :class:`ProtocolError` the stream has no recoverable frame boundary; the
    parser stays broken and the connection must be ended.
    """

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._buf = bytearray()
        self._head: tuple[Headers, str | None, int] | None = None  # waiting for a body
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet make a whole message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        if self._error is not None:
            raise self._error
        buf = self._buf
        buf += data
        out: list[Message] = []
        pos = 0
        try:
            while True:
                if self._head is None:
                    pos = self._skip_blank(buf, pos)
                    head = self._read_head(buf, pos)
                    if head is None:
                        break
                    self._head, pos = head
                headers, ctype, length = self._head
                if len(buf) - pos < length:
                    break
                body = bytes(buf[pos:pos + length])
                pos += length
                self._head = None
                out.append(_build(headers, ctype, body))
        except ProtocolError as exc:
            self._error = exc
            buf.clear()
            raise
        finally:
            if pos:
                del buf[:pos]
        return out

    @staticmethod
    def _skip_blank(buf: bytearray, pos: int) -> int:
        end = len(buf)
        while pos < end and buf[pos] in (10, 13):
            pos += 1
        return pos

    def _read_head(self, buf: bytearray, pos: int) -> tuple[tuple[Headers, str | None, int], int] | None:
        limit = self.limits.max_header_bytes
        end = buf.find(b"\n\n", pos, pos + limit + 2)
        stop = len(buf) if end < 0 else end
        crlf = buf.find(b"\n\r\n", pos, stop)
        if crlf >= 0:
            end, skip = crlf, 3
        elif end >= 0:
            skip = 2
        else:
            if len(buf) - pos > limit:
                raise ProtocolError(f"header block longer than {limit} bytes")
            return None
        if end - pos > limit:
            raise ProtocolError(f"header block longer than {limit} bytes")
        headers: Headers = []
        ctype = None
        length = 0
        for line in bytes(buf[pos:end]).split(b"\n"):
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
        return (headers, ctype, length), end + skip

    def _content_length(self, text: str) -> int:
        if not text.isdigit() or not text.isascii():
            raise ProtocolError(f"bad Content-Length {text!r}")
        length = int(text)
        if length > self.limits.max_body_bytes:
            raise ProtocolError(f"Content-Length {length} is over the {self.limits.max_body_bytes}-byte limit")
        return length


def _build(headers: Headers, ctype: str | None, body: bytes) -> Message:
    if ctype == "text/event-plain":
        return Event.from_plain(body)
    if ctype == "command/reply":
        text = ""
        is_connect = False
        for k, v in headers:
            if k == "Reply-Text":
                text = v
            elif k == "Event-Name":
                is_connect = True
        if is_connect:
            return Reply(unquote(text), headers, Event.from_encoded_pairs(headers))
        return Reply(text, headers)
    if ctype == "api/response":
        return ApiResponse(body.decode("utf-8", "replace"), headers)
    if ctype == "text/event-json":
        return Event.from_json(body)
    if ctype == "text/event-xml":
        return Event.from_xml(body)
    if ctype == "text/disconnect-notice":
        return DisconnectNotice(headers, body.decode("utf-8", "replace"))
    if ctype == "log/data":
        return LogData(headers, body.decode("utf-8", "replace"))
    if ctype == "text/rude-rejection":
        return RudeRejection(headers, body.decode("utf-8", "replace"))
    if ctype == "auth/request":
        return AuthRequest(headers)
    return RawMessage(headers, body)
