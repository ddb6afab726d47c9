"""JSON events (``text/event-json``) read whole, refusing what FreeSWITCH never writes.

FreeSWITCH writes one flat object of strings, a repeated header as an array of strings
(switch_event_serialize_json_obj), and the body as ``_body``. Deeper nesting is refused
before json.loads sees it; lone surrogates become U+FFFD.
"""

from __future__ import annotations

import json
import re

from ..errors import ProtocolError
from .wire import MAX_DEPTH

ARRAY_PREFIX = "ARRAY::"
ARRAY_SEP = "|:"


def read_json(raw: bytes) -> tuple[list[tuple[str, str]], str | None]:
    """(headers, body) of one JSON event; a repeated header as FreeSWITCH's ``ARRAY::a|:b``."""
    # UTF-8 only, as cJSON writes it (json.loads would also guess UTF-16 and -32)
    text = raw.decode("utf-8", "surrogatepass")
    if not _json_nesting_ok(raw):
        raise ProtocolError(f"text/event-json nested deeper than {MAX_DEPTH} levels (or unbalanced) is refused")
    # pairs, not a dict: a header FreeSWITCH repeats is a repeated key in its JSON
    items = json.loads(text, object_pairs_hook=_JsonObject)
    if not isinstance(items, _JsonObject):
        raise ProtocolError("text/event-json body is not a JSON object")
    pairs = []
    body = None
    for key, value in items:
        if key == "_body":
            body = _json_text(value)
            continue
        if isinstance(value, list) and not isinstance(value, _JsonObject):
            value = ARRAY_PREFIX + ARRAY_SEP.join(_json_text(v) for v in value)
        else:
            value = _json_text(value)
        pairs.append((key if key.isascii() else _well_formed(key), value))
    return pairs, body


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
