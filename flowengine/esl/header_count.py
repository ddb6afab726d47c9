"""How many headers an event carries, counted without reading it (``Limits.max_headers``).

An event is read lazily, but a name looked up in any case reads every header of it: a
tuple, two strings and an index entry each. A 16 MiB event of four million ``a:b``
lines so read took ~650 MB and seconds of the loop; counted here, it is refused in
milliseconds as a :class:`ProtocolError` that ends its call alone.
"""

from __future__ import annotations

from ..errors import ProtocolError
from .plain_event import header_end
from .wire import shown

EVENT_TYPES = frozenset(("text/event-plain", "text/event-json", "text/event-xml"))


def check_headers(ctype: str, body: bytes, cap: int) -> None:
    """Refuse an event (``ctype`` one of :data:`EVENT_TYPES`) of more than ``cap`` headers.

    Plain: the lines of its header block (values are url-encoded, so a header is one
    line; the block ends where :func:`~flowengine.esl.plain_event.header_end` ends it, so a
    BACKGROUND_JOB's output after it counts for nothing). JSON
    (switch_event_serialize_json_obj: an object of strings, an array of strings for a
    repeated header): once escapes are removed each quote opens or closes a string, two
    strings a header; and the values outside strings, one comma apart, two a header at
    most (an array of a million numbers has no quote). XML (switch_event_xmlize): two
    tags a header, each opening with a ``<`` that text may only hold escaped; and no
    attributes, which FreeSWITCH never writes and one tag could carry by the million.
    An event of at most ``cap`` bytes cannot pass: callers may skip those.
    """
    if ctype == "text/event-plain":
        if body.count(b"\n") <= cap:
            return
        found = body.count(b"\n", 0, header_end(body)) + 1
    elif ctype == "text/event-json":
        text = body.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in body else body
        quotes = text.count(b'"')
        found = quotes // 4  # headers' names and values, and _body's
        if quotes <= 4 * cap + 4:  # so few strings: split them off cheaply
            values = b"".join(text.split(b'"')[::2]).count(b",") + 1
            found = values // 2 if values > 2 * cap else 0
    else:
        tags = body.count(b"<")
        found = tags // 2
        if tags <= 2 * cap + 8:  # <event>, <headers>, <body>, their ends, <?xml …?>
            found = 0
            for piece in body.split(b"<")[1:]:
                end = piece.find(b">")
                if piece.find(b"=", 0, len(piece) if end < 0 else end) >= 0 and not piece.startswith(b"?"):
                    raise ProtocolError(
                        "text/event-xml with an attribute is refused: FreeSWITCH writes none "
                        f"(switch_event_xmlize): <{shown(piece, 40)}"
                    )
    if found > cap:
        raise ProtocolError(
            f"an event of about {found} headers, over the limit of {cap} (Limits.max_headers): "
            "FreeSWITCH's carry a few hundred"
        )
