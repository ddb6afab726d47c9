"""One Event type for FreeSWITCH's three event formats and for the connect reply.

A plain event is not split up front: a header is found by a byte search and decoded on its
own; JSON and XML are decoded whole on first access. A value comes back as the text
FreeSWITCH meant (url-decoded only as :mod:`.urlcode` says, arrays in the ``ARRAY::a|:b``
form), and the headers read from every event only up to :data:`MAX_SHORT_VALUE` bytes. Why:
docs/freeswitch.md, "Reading events"; the bound: docs/security.md, "Nothing a peer or a flow
sends can stall or exhaust the server".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import groupby
from xml.parsers import expat

from ..errors import ProtocolError
from .urlcode import decode, decode_bytes
from .wire import MAX_DEPTH, MAX_DIGITS, shown, wire_int  # noqa: F401  (wire_int, MAX_DIGITS: exported)
from .xml_event import read_xml

ARRAY_PREFIX = "ARRAY::"
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
#: a line holding one of SHORT_HEADERS with more than MAX_SHORT_VALUE bytes after its colon
#: (a superset of the values too long: an optional space and CR are counted too)
_LONG_SHORT = re.compile(
    b"\\n(?:%s):[^\\n]{%d}"
    % (
        # grouped by first letter (``C(?:ontrol|ore-UUID)``): the same names, but at each line
        # the engine tries one branch, not fourteen (about a third less time per search)
        b"|".join(
            re.escape(first.encode()) + b"(?:%s)" % b"|".join(re.escape(n[1:].encode()) for n in group)
            for first, group in groupby(sorted(SHORT_HEADERS), key=lambda n: n[0])
        ),
        MAX_SHORT_VALUE + 1,
    )
)
_KEYS: dict[str, bytes] = {}  # header name -> b"\nName:", the byte pattern looked for
_ARRAY_SEP = "|:"


class Event:
    """A FreeSWITCH event (or the channel data of the connect reply).

    Header names are matched exactly as FreeSWITCH writes them (``Unique-ID``,
    ``variable_sip_from_user``). Repeated headers are kept: :meth:`get` gives the first,
    :meth:`get_all` every one. One of :data:`SHORT_HEADERS` longer than
    :data:`MAX_SHORT_VALUE` is a :class:`ProtocolError` when read.
    """

    __slots__ = ("format", "_raw", "_hend", "_pairs", "_index", "_body", "_cache", "_whole")
    content_type = "text/event"

    def __init__(
        self, fmt: str, raw: bytes = b"", pairs: list[tuple[str, str]] | None = None, body: str | None = None
    ) -> None:
        self.format = fmt
        self._raw = raw
        self._hend = -1
        self._pairs = pairs
        self._index: dict[str, str] | None = None
        self._body = body
        self._cache: dict[str, str | None] | None = None
        self._whole: bool | None = None  # channel_data, once asked
        if pairs is not None:
            self._build_index(pairs)

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_plain(cls, raw: bytes) -> Event:
        return cls("plain", raw)

    @classmethod
    def from_json(cls, raw: bytes) -> Event:
        return cls("json", raw)

    @classmethod
    def from_xml(cls, raw: bytes) -> Event:
        return cls("xml", raw)

    # -- reading ------------------------------------------------------------------
    def get(self, name: str, default: str | None = None) -> str | None:
        index = self._index
        if self.format != "plain" or index is not None:
            if index is None:
                self._parse()
                index = self._index
                assert index is not None  # _parse builds it or raises
            value = index.get(name)
            if value is not None and len(value) > MAX_SHORT_VALUE and name in SHORT_HEADERS:
                raise _too_long(name, len(value))
            return default if value is None else value
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        elif name in cache:
            value = cache[name]
            return default if value is None else value
        value = self._find_plain(name)
        cache[name] = value
        return default if value is None else value

    def get_short(self, name: str) -> str | None:
        """``name``'s value if it is at most :data:`MAX_SHORT_VALUE` long, else None (a
        longer one is not read at all): for a header where only a short value means
        anything, as a number."""
        if self.format == "plain" and self._index is None:
            span = self._span(name)
            if span is None or span[1] - span[0] > MAX_SHORT_VALUE:
                return None
            return self.get(name)
        value = self.get(name)
        return value if value is None or len(value) <= MAX_SHORT_VALUE else None

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers() if k == name]

    def get_list(self, name: str) -> list[str]:
        """A header as a list: FreeSWITCH's ``ARRAY::a|:b`` split, a plain value alone."""
        value = self.get(name)
        if value is None:
            return []
        if value.startswith(ARRAY_PREFIX):
            return value[len(ARRAY_PREFIX) :].split(_ARRAY_SEP)
        return [value]

    def headers(self) -> list[tuple[str, str]]:
        """Every header in order, decoded (repeats included)."""
        pairs = self._pairs
        if pairs is None:
            self._parse()
            pairs = self._pairs
            assert pairs is not None  # _parse sets it or raises
        return list(pairs)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self.headers())

    @property
    def body(self) -> str | None:
        """The inner body (BACKGROUND_JOB output, an XML CDR …), or None."""
        if self._pairs is None:
            self._parse()
        return self._body

    # -- what the engine reads most -----------------------------------------------
    @property
    def name(self) -> str | None:
        # read for every event that arrives; FreeSWITCH always writes it first
        raw = self._raw
        if self.format == "plain" and raw.startswith(b"Event-Name: "):
            end = raw.find(b"\n", 12)
            if end < 0:
                end = len(raw)
            if end - 12 > MAX_SHORT_VALUE + (raw[end - 1 : end] == b"\r"):
                raise _too_long("Event-Name", end - 12)
            value = raw[12:end]
            if b"%" not in value and b"\r" not in value:
                return value.decode("utf-8", "replace")
        return self.get("Event-Name")

    @property
    def size(self) -> int:
        """The bytes this event came as (0 for one built from pairs)."""
        return len(self._raw)

    def check_short(self) -> None:
        """Read every one of :data:`SHORT_HEADERS` it has: a :class:`ProtocolError` if
        one is too long. For an event the engine keeps, so that no later read fails.

        A plain event is first searched once for a line that starts with one of them and
        holds more than :data:`MAX_SHORT_VALUE` bytes after the colon (any value too long
        is on such a line); without one, none is too long and none is read here. That is
        one pass in C over the bytes, where reading each name is a search of its own (of
        the whole header block for each name the event lacks) and a decoding."""
        if self.format == "plain" and self._index is None:
            raw = self._raw
            first = raw.find(b"\n")
            if 0 <= first <= MAX_SHORT_VALUE and _LONG_SHORT.search(raw) is None:
                return
        for name in SHORT_HEADERS:
            self.get(name)

    @property
    def unique_id(self) -> str | None:
        return self.get("Unique-ID")

    @property
    def application(self) -> str | None:
        return self.get("Application")

    @property
    def application_uuid(self) -> str | None:
        return self.get("Application-UUID")

    @property
    def application_data(self) -> str | None:
        return self.get("Application-Data")

    @property
    def application_response(self) -> str | None:
        return self.get("Application-Response")

    @property
    def hangup_cause(self) -> str | None:
        return self.get("Hangup-Cause")

    @property
    def dtmf_digit(self) -> str | None:
        return self.get("DTMF-Digit")

    @property
    def job_uuid(self) -> str | None:
        return self.get("Job-UUID")

    @property
    def channel_data(self) -> bool:
        """Whether the event carries the channel's state whole: its caller profile and its
        variables, as FreeSWITCH's channel events do. Such an event can stand for the
        channel, so a call need not keep the older copy it got at connect."""
        whole = self._whole
        if whole is None:
            whole = self._whole = self._carries_channel()
        return whole

    def _carries_channel(self) -> bool:
        if self.get("Caller-Destination-Number") is None or self.get("Unique-ID") is None:
            return False
        if self.format == "plain" and self._index is None:
            if self._hend < 0:
                self._hend = _header_end(self._raw)
            return self._raw.find(b"\nvariable_", 0, self._hend) >= 0
        index = self._index
        assert index is not None  # the get() above decoded a JSON or XML event whole
        return any(k.startswith("variable_") for k in index)

    def variable(self, name: str, default: str | None = None) -> str | None:
        """Channel variable ``name`` as carried by this event (``variable_<name>``)."""
        return self.get("variable_" + name, default)

    def variables(self) -> dict[str, str]:
        return {k[9:]: v for k, v in self.headers() if k.startswith("variable_")}

    def __repr__(self) -> str:
        try:
            name = self.name
        except ProtocolError:
            name = "(too long)"
        return f"<Event {name} {self.format}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self.headers() == other.headers() and self.body == other.body

    __hash__ = None  # type: ignore[assignment]  # typeshed has no "unhashable" for object.__hash__

    # -- decoding -----------------------------------------------------------------
    def _find_plain(self, name: str) -> str | None:
        span = self._span(name)
        if span is None:
            return None
        start, end = span
        if end - start > MAX_SHORT_VALUE and name in SHORT_HEADERS:  # before a byte is copied or decoded
            raise _too_long(name, end - start)
        value = self._raw[start:end]
        if b"%" not in value:  # most values: decode_bytes would do just this
            return value.decode("utf-8", "replace")
        return decode_bytes(value)

    def _span(self, name: str) -> tuple[int, int] | None:
        """Where the first ``name`` header's value lies in a plain event's bytes."""
        raw = self._raw
        key = _KEYS.get(name)
        if key is None:
            key = b"\n" + name.encode() + b":"
            if len(_KEYS) < 4096:
                _KEYS[name] = key
        hend = self._hend
        if raw.startswith(key[1:]):  # the first line (Event-Name): no need to find the block's end
            start = len(key) - 1
            if hend < 0:
                hend = len(raw)
        else:
            if hend < 0:
                hend = self._hend = _header_end(raw)
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

    def _build_index(self, pairs: list[tuple[str, str]]) -> None:
        index: dict[str, str] = {}
        for k, v in pairs:
            index.setdefault(k, v)
        self._index = index

    def _parse(self) -> None:
        if self._pairs is not None:
            return
        try:
            if self.format == "plain":
                self._parse_plain()
            elif self.format == "json":
                self._parse_json()
            else:
                self._parse_xml()
        except ProtocolError:
            raise
        except (ValueError, expat.ExpatError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ProtocolError(f"undecodable {self.format} event: {shown(str(exc), 200)}") from None
        pairs = self._pairs
        assert pairs is not None  # each _parse_* sets it or raises
        self._build_index(pairs)

    def _parse_plain(self) -> None:
        raw = self._raw
        if self._hend < 0:
            self._hend = _header_end(raw)
        hend = self._hend
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
        self._pairs = pairs
        rest = raw[hend + (3 if raw[hend + 1 : hend + 2] == b"\r" else 2) :]
        self._body = _inner_body(pairs, rest) if hend < len(raw) else None

    def _parse_json(self) -> None:
        # UTF-8 only, as cJSON writes it (json.loads would also guess UTF-16 and -32)
        text = self._raw.decode("utf-8", "surrogatepass")
        if not _json_nesting_ok(self._raw):
            raise ProtocolError(f"text/event-json nested deeper than {MAX_DEPTH} levels (or unbalanced) is refused")
        # pairs, not a dict: a header FreeSWITCH repeats is a repeated key in its JSON
        items = json.loads(text, object_pairs_hook=_JsonObject)
        if not isinstance(items, _JsonObject):
            raise ProtocolError("text/event-json body is not a JSON object")
        pairs = []
        for key, value in items:
            if key == "_body":
                self._body = _json_text(value)
                continue
            if isinstance(value, list) and not isinstance(value, _JsonObject):
                value = ARRAY_PREFIX + _ARRAY_SEP.join(_json_text(v) for v in value)
            else:
                value = _json_text(value)
            pairs.append((key if key.isascii() else _well_formed(key), value))
        self._pairs = pairs

    def _parse_xml(self) -> None:
        self._pairs, self._body = read_xml(self._raw)


def _too_long(name: str, size: int) -> ProtocolError:
    return ProtocolError(
        f"the {name} header of an event holds {size} bytes, over the limit of {MAX_SHORT_VALUE} "
        "for the headers FreeSWITCH fills with a UUID or a name (esl.event.MAX_SHORT_VALUE)"
    )


def _header_end(raw: bytes) -> int:
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


class _JsonObject(list):
    """A JSON object kept as its (key, value) pairs."""


def _json_text(value: object) -> str:
    if isinstance(value, str):
        return value if value.isascii() else _well_formed(value)
    if isinstance(value, _JsonObject):
        return json.dumps(dict(value))
    return json.dumps(value)


def _well_formed(text: str) -> str:
    """``text`` without lone surrogates (U+FFFD instead). JSON may spell one as ``\\ud800``
    (cJSON never does); kept, it would make every command built from it unencodable."""
    return _SURROGATE.sub("\ufffd", text)


def _inner_body(pairs: list[tuple[str, str]], rest: bytes) -> str | None:
    """A plain event's own body: after its inner Content-Length and blank line."""
    for k, v in pairs:
        if k == "Content-Length":
            length = wire_int(v)
            if length is None:
                raise ProtocolError(f"event has a bad inner Content-Length {shown(v)}")
            return rest[:length].decode("utf-8", "replace")
    return None


# once escapes are gone: a string, or an unterminated one up to the end (so the search
# never fails and retries at the next quote, which would be quadratic)
_JSON_STRING = re.compile(rb'"[^"]*+(?:"|\Z)')
_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads has already paired the valid ones
_OPEN_CLOSE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def _json_nesting_ok(raw: bytes) -> bool:
    """Whether JSON ``raw`` nests at most MAX_DEPTH deep: in linear time, no recursion.

    At most MAX_DEPTH opening brackets settle it at once (a real event has one or two).
    Otherwise escapes and strings are cut out and only brackets kept (``{}`` as ``[]``:
    json.loads refuses a mismatch anyway); each pass then removes the innermost pairs, so
    a body MAX_DEPTH deep is empty after MAX_DEPTH passes. UTF-8 never puts these bytes
    inside a character.
    """
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return True
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = _JSON_STRING.sub(b"", unescaped).translate(_OPEN_CLOSE, _NOT_BRACKET)
    for _ in range(MAX_DEPTH):
        if not brackets:
            return True
        brackets = brackets.replace(b"[]", b"")
    return not brackets
