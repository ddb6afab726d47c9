"""Reading an event's headers in each of FreeSWITCH's three formats, with their bounds.

:class:`EventHeaders` is what :class:`~.event.Event` is built on: a plain event is not split
up front, its headers are read from the bytes by :class:`~.plain_event.PlainHeaders`; JSON
and XML are decoded whole on first access (:mod:`.json_event`, :mod:`.xml_event`). A value
comes back as the text FreeSWITCH meant (url-decoded only as :mod:`.urlcode` says, arrays
in the ``ARRAY::a|:b`` form), and the headers of :data:`~.wire.SHORT_HEADERS` only up to
:data:`~.wire.MAX_SHORT_VALUE` bytes. Why: docs/freeswitch.md, "Reading events".
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.parsers import expat

from ..errors import ProtocolError
from .json_event import ARRAY_PREFIX, ARRAY_SEP, read_json
from .plain_event import PlainHeaders
from .wire import MAX_SHORT_VALUE, SHORT_HEADERS, shown, too_long
from .xml_event import read_xml


class EventHeaders:
    """The headers of one event, by name or all in order, in any of the three formats.

    Header names are matched exactly as FreeSWITCH writes them (``Unique-ID``,
    ``variable_sip_from_user``). Repeated headers are kept: :meth:`get` gives the first,
    :meth:`get_all` every one. One of :data:`~.wire.SHORT_HEADERS` longer than
    :data:`~.wire.MAX_SHORT_VALUE` is a :class:`ProtocolError` when read.
    """

    # _whole: Event.channel_data once asked (here so that one __init__ sets every slot)
    __slots__ = ("format", "_raw", "_plain", "_pairs", "_index", "_body", "_whole")

    def __init__(
        self, fmt: str, raw: bytes = b"", pairs: list[tuple[str, str]] | None = None, body: str | None = None
    ) -> None:
        self.format = fmt
        self._raw = raw
        self._plain: PlainHeaders | None = None  # a plain event's headers, once one is read
        self._pairs = pairs
        self._index: dict[str, str] | None = None
        self._body = body
        self._whole: bool | None = None
        if pairs is not None:
            self._build_index(pairs)

    # -- reading ------------------------------------------------------------------
    def get(self, name: str, default: str | None = None) -> str | None:
        index = self._index
        if index is None and self.format == "plain":
            plain = self._plain
            if plain is None:
                plain = self._plain = PlainHeaders(self._raw)
            value = plain.get(name)
            return default if value is None else value
        if index is None:
            self._parse()
            index = self._index
            assert index is not None  # _parse builds it or raises
        value = index.get(name)
        if value is not None and len(value) > MAX_SHORT_VALUE and name in SHORT_HEADERS:
            raise too_long(name, len(value))
        return default if value is None else value

    def get_short(self, name: str) -> str | None:
        """``name``'s value if it is at most :data:`~.wire.MAX_SHORT_VALUE` long, else None
        (a longer one is not read at all): for a header where only a short value means
        anything, as a number."""
        if self.format == "plain" and self._index is None:
            return self._plain_headers().get_short(name)
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
            return value[len(ARRAY_PREFIX) :].split(ARRAY_SEP)
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

    @property
    def size(self) -> int:
        """The bytes this event came as (0 for one built from pairs)."""
        return len(self._raw)

    def check_short(self) -> None:
        """Read every one of :data:`~.wire.SHORT_HEADERS` it has: a :class:`ProtocolError`
        if one is too long. For an event the engine keeps, so that no later read fails.
        (A plain event's are all found by the one pass that its first read makes.)"""
        if self.format == "plain" and self._index is None:
            self._plain_headers().check_short()
            return
        for name in SHORT_HEADERS:
            self.get(name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventHeaders):
            return NotImplemented
        return self.headers() == other.headers() and self.body == other.body

    __hash__ = None  # type: ignore[assignment]  # typeshed has no "unhashable" for object.__hash__

    # -- decoding whole -----------------------------------------------------------
    def _plain_headers(self) -> PlainHeaders:
        plain = self._plain
        if plain is None:
            plain = self._plain = PlainHeaders(self._raw)
        return plain

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
                self._pairs, self._body = self._plain_headers().parse()
            elif self.format == "json":
                self._pairs, self._body = read_json(self._raw)
            else:
                self._pairs, self._body = read_xml(self._raw)
        except ProtocolError:
            raise
        except (ValueError, expat.ExpatError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ProtocolError(f"undecodable {self.format} event: {shown(str(exc), 200)}") from None
        pairs = self._pairs
        assert pairs is not None  # each reader returns them or raises
        self._build_index(pairs)
