"""XML events (``text/event-xml``) read with expat, refusing what FreeSWITCH never writes.

FreeSWITCH writes UTF-8 without a declaration or a DTD, three elements deep
(switch_event_xmlize, switch_xml_toxml); anything else is refused as a ProtocolError.
"""

from __future__ import annotations

from xml.parsers import expat

from ..errors import ProtocolError
from .urlcode import decode
from .wire import MAX_DEPTH, shown


def read_xml(raw: bytes) -> tuple[list[tuple[str, str]], str | None]:
    """(headers, body) of one XML event."""
    return _XmlEvent.read(raw)


class _XmlEvent:
    """Reads ``<event><headers><Name>value</Name>…</headers><body>…</body></event>`` with
    expat's callbacks: the text of each element in the first ``<headers>`` and of the first
    ``<body>`` (each element's text before its first child, as ElementTree's ``.text``).

    A DTD is refused the moment expat meets ``<!DOCTYPE``, whatever the document's
    encoding, so no entity is ever declared, let alone expanded (a byte search for
    ``<!ENTITY`` misses it in UTF-16). FreeSWITCH writes UTF-8 without a declaration or a
    DTD (switch_xml_toxml), three elements deep.
    """

    __slots__ = ("depth", "root", "headers", "in_headers", "body", "text")

    def __init__(self) -> None:
        self.depth = 0
        self.root: str | None = None
        self.headers: list[tuple[str, list[str]]] | None = None
        self.in_headers = False
        self.body: list[str] | None = None
        self.text: list[str] | None = None  # where character data goes now, if anywhere

    @classmethod
    def read(cls, raw: bytes) -> tuple[list[tuple[str, str]], str | None]:
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw:  # UTF-16/32: expat follows a BOM
            raise ProtocolError("text/event-xml that is not UTF-8 is refused")
        reader, parser = cls(), expat.ParserCreate("UTF-8")
        parser.buffer_text = True
        parser.ordered_attributes = True  # a list, not a dict, for the attributes never read
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = _refuse_dtd
        parser.XmlDeclHandler = _utf8_only
        parser.StartElementHandler = reader.start
        parser.EndElementHandler = reader.end
        parser.CharacterDataHandler = reader.data
        parser.Parse(raw, True)
        if reader.root != "event" or reader.headers is None:
            raise ProtocolError("text/event-xml is not <event><headers>…")
        pairs = [(name, decode("".join(text))) for name, text in reader.headers]
        return pairs, None if reader.body is None else "".join(reader.body)

    def start(self, tag: str, attributes: object) -> None:
        depth = self.depth = self.depth + 1
        if depth > MAX_DEPTH:
            raise ProtocolError(f"text/event-xml nested deeper than {MAX_DEPTH} levels is refused")
        self.text = None  # the parent's text ends at its first child
        if depth == 1:
            self.root = tag
        elif depth == 2:
            if tag == "headers" and self.headers is None:
                self.headers, self.in_headers = [], True
            elif tag == "body" and self.body is None:
                self.body = self.text = []
        elif depth == 3 and self.in_headers and self.headers is not None:  # in_headers is set with headers
            self.text = []
            self.headers.append((tag, self.text))

    def end(self, tag: str) -> None:
        if self.depth == 2:
            self.in_headers = False
        self.depth -= 1
        self.text = None  # what follows a child is its tail, not the parent's text

    def data(self, text: str) -> None:
        if self.text is not None:
            self.text.append(text)


def _refuse_dtd(*_: object) -> None:
    raise ProtocolError("text/event-xml with a DOCTYPE or ENTITY is refused")


def _utf8_only(version: str, encoding: str | None, standalone: int) -> None:
    if encoding is not None and encoding.lower() not in ("utf-8", "utf8"):
        raise ProtocolError(f"text/event-xml in {shown(encoding)} is refused: FreeSWITCH writes UTF-8")
