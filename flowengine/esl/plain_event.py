"""Reading a plain event's header block (``text/event-plain``) without splitting it up.

An event carries ~100 url-encoded header lines and the engine reads a handful, so a header
is found by a byte search of its own (``\nName:``, up to where the block ends) and decoded
once, when first read, only as :mod:`.urlcode` says; one of :data:`~.wire.SHORT_HEADERS`
is measured before a byte of it is copied or decoded. For an event the engine keeps,
:meth:`PlainHeaders.check_short` settles all of SHORT_HEADERS in one pass. (Finding the
common headers all at once in one regex pass was measured too: Python's re costs more
per line than the handful of byte searches it would save.) Why: docs/freeswitch.md,
"Reading events"; the bound: docs/security.md, "Nothing a peer or a flow sends can stall
or exhaust the server".
"""

from __future__ import annotations

import re

import re2

from ..errors import ProtocolError
from .urlcode import decode, decode_bytes
from .wire import MAX_SHORT_VALUE, SHORT_HEADERS, shown, too_long, wire_int


def _bytewise() -> re2.Options:
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1  # each byte one character, UTF-8 or not
    return options


#: a line holding one of SHORT_HEADERS with more than MAX_SHORT_VALUE bytes after its colon
#: (a superset of the values too long: an optional space and CR are counted too). RE2's
#: DFA makes it one pass at a few instructions a byte, whatever the names: Python's re
#: tries the names at every line, at about twice the cost.
_LONG_SHORT = re2.compile(
    b"\\n(?:%s):[^\\n]{%d}" % (b"|".join(re.escape(n.encode()) for n in sorted(SHORT_HEADERS)), MAX_SHORT_VALUE + 1),
    _bytewise(),
)
_KEYS: dict[str, bytes] = {}  # header name -> b"\nName:", the byte pattern looked for


class PlainHeaders:
    """The headers of one plain event's bytes, read by name.

    Names are matched exactly as FreeSWITCH writes them; the first of a repeated header
    counts. A value comes back decoded (None when the header is absent); one of
    SHORT_HEADERS longer than MAX_SHORT_VALUE is a :class:`ProtocolError` when read.
    """

    __slots__ = ("raw", "_hend", "_cache")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._hend = -1
        self._cache: dict[str, str | None] = {}

    @property
    def hend(self) -> int:
        """Where the header block ends (:func:`header_end`)."""
        if self._hend < 0:
            self._hend = header_end(self.raw)
        return self._hend

    def get(self, name: str) -> str | None:
        cache = self._cache
        if name in cache:
            return cache[name]
        # _span, inlined: this runs for every header the engine reads
        raw = self.raw
        key = _KEYS.get(name)
        if key is None:
            key = _key(name)
        if raw.startswith(key[1:]):  # the first line (Event-Name): no need to find the block's end
            start = len(key) - 1
            hend = self._hend if self._hend >= 0 else len(raw)
        else:
            hend = self._hend
            if hend < 0:
                hend = self._hend = header_end(raw)
            at = raw.find(key, 0, hend)
            if at < 0:
                cache[name] = None
                return None
            start = at + len(key)
        end = raw.find(b"\n", start, hend)
        if end < 0:
            end = hend
        if raw[start : start + 1] == b" ":
            start += 1
        if raw[end - 1 : end] == b"\r" and end > start:
            end -= 1
        if end - start > MAX_SHORT_VALUE and name in SHORT_HEADERS:  # before a byte is copied or decoded
            raise too_long(name, end - start)
        data = raw[start:end]
        # most values have no escape: decode_bytes would do just this
        value = data.decode("utf-8", "replace") if b"%" not in data else decode_bytes(data)
        cache[name] = value
        return value

    def get_short(self, name: str) -> str | None:
        """``name``'s value if it is at most MAX_SHORT_VALUE long, else None (a longer
        one is not read at all)."""
        span = self._span(name)
        if span is None or span[1] - span[0] > MAX_SHORT_VALUE:
            return None
        return self.get(name)

    def check_short(self) -> None:
        """A :class:`ProtocolError` if reading one of SHORT_HEADERS would be one (the
        first such in SHORT_HEADERS' order, as reading each in turn would raise).

        The bytes are first searched once for a line that starts with one of them and
        holds more than MAX_SHORT_VALUE bytes after the colon (any value too long is on
        such a line); without one, none is too long and none is read here. That is one
        pass in C, where reading each name is a search of its own (of the whole header
        block for each name the event lacks) and a decoding. It runs for every event a
        call keeps (each application's completion), so it is a good part of the CPU an
        event costs."""
        raw = self.raw
        first = raw.find(b"\n")
        if 0 <= first <= MAX_SHORT_VALUE and _LONG_SHORT.search(raw) is None:
            return
        for name in SHORT_HEADERS:
            self.get(name)

    def has_variables(self) -> bool:
        """Whether any ``variable_…`` header is in the block (a channel event's are)."""
        hend = self._hend
        if hend < 0:
            hend = self._hend = header_end(self.raw)
        return self.raw.find(b"\nvariable_", 0, hend) >= 0

    def parse(self) -> tuple[list[tuple[str, str]], str | None]:
        """Every header in order, decoded (repeats included), and the event's own body."""
        raw, hend = self.raw, self.hend
        text = raw[:hend].decode("utf-8", "replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n").removesuffix("\r")
        pairs: list[tuple[str, str]] = []
        append = pairs.append
        for line in text.split("\n"):
            name, sep, value = line.partition(": ")
            if not sep:  # "Name:value" — legal, though FreeSWITCH never writes it
                name, sep, value = line.partition(":")
                if not sep:
                    continue
                value = value.lstrip(" ")
            append((name, decode(value) if "%" in value else value))
        rest = raw[hend + (3 if raw[hend + 1 : hend + 2] == b"\r" else 2) :]
        return pairs, _inner_body(pairs, rest) if hend < len(raw) else None

    def _span(self, name: str) -> tuple[int, int] | None:
        """Where the first ``name`` header's value lies in the bytes."""
        raw = self.raw
        key = _KEYS.get(name)
        if key is None:
            key = _key(name)
        if raw.startswith(key[1:]):  # the first line (Event-Name): no need to find the block's end
            start = len(key) - 1
            hend = self._hend if self._hend >= 0 else len(raw)
        else:
            hend = self._hend
            if hend < 0:
                hend = self._hend = header_end(raw)
            at = raw.find(key, 0, hend)
            if at < 0:
                return None
            start = at + len(key)
        end = raw.find(b"\n", start, hend)
        if end < 0:
            end = hend
        if raw[start : start + 1] == b" ":
            start += 1
        if raw[end - 1 : end] == b"\r" and end > start:
            end -= 1
        return start, end


def _key(name: str) -> bytes:
    """``b"\\nName:"``, the bytes a header line of ``name`` starts with (kept for the next)."""
    key = b"\n" + name.encode() + b":"
    if len(_KEYS) < 4096:
        _KEYS[name] = key
    return key


def header_end(raw: bytes) -> int:
    """Where a plain event's header block ends.

    Values are url-encoded, so no header line holds a raw newline, and FreeSWITCH writes
    an inner Content-Length whenever the event has a body. Without one, the block runs to
    the frame's closing blank line; with one, to the blank line after it. Both are found
    with long needles, far cheaper than scanning every line for a blank one.
    """
    first = raw.find(b"\n")
    if first > 0 and raw[first - 1] == 13:  # CRLF, never sent by FreeSWITCH
        end = raw.find(b"\n\r\n")
        return len(raw) if end < 0 else end
    inner = 0 if raw.startswith(b"Content-Length:") else raw.find(b"\nContent-Length:")
    if inner < 0:
        end = len(raw)
        while end > 0 and raw[end - 1] == 10:
            end -= 1
        return end
    end = raw.find(b"\n\n", inner)
    return len(raw) if end < 0 else end


def _inner_body(pairs: list[tuple[str, str]], rest: bytes) -> str | None:
    """A plain event's own body: after its inner Content-Length and blank line."""
    for k, v in pairs:
        if k == "Content-Length":
            length = wire_int(v)
            if length is None:
                raise ProtocolError(f"event has a bad inner Content-Length {shown(v)}")
            return rest[:length].decode("utf-8", "replace")
    return None
