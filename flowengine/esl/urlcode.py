"""FreeSWITCH's url-encoding of event header values, and the one decoding that inverts it.

FreeSWITCH writes every header value of a plain event (and of the connect reply, and the
header text of an XML event) through ``switch_url_encode`` (src/switch_utils.c,
``switch_url_encode_opt`` with ``double_encode`` false; switch_event.c,
``switch_event_serialize``). It encodes a byte as ``%XX`` (uppercase hex) only when it is
a control byte, a byte from 0x7F up, or one of ``SWITCH_URL_UNSAFE`` (src/include/switch_utils.h:
``\\r \\n space # % & + : ; < = > ? @ [ \\ ] ^ ` { | } "``), and it copies a ``%`` that is
already followed by two uppercase hex digits as it is. So a caller name that *holds* ``%41``
arrives as ``%41``, and a letter ``A`` never arrives as ``%41`` (caller_name_percent: the name
``%41RRAY::x%2Cy`` arrives as ``%41RRAY%3A%3Ax%2Cy``).

A general url-decoder (``urllib.parse.unquote``) would read that name as ``ARRAY::x,y``:
text the caller wrote as inert, turned into FreeSWITCH syntax by us. :func:`decode`
decodes only what the encoder can have produced:

- ``%XX`` whose byte the encoder encodes becomes that byte; any other ``%XX`` (``%41``,
  ``%2C``, lowercase ``%3a``) is the text it is;
- ``%25`` followed by two uppercase hex digits is the text ``%25``: the encoder copies a
  ``%`` followed by two hex digits, so it never writes ``%25`` for one.

That makes ``encode(decode(w)) == w`` for everything FreeSWITCH writes. One ambiguity is
left, and no decoder can remove it: a value holding the text ``%3A`` arrives as ``%3A``, as
a colon does, and is read as the colon. Every place a value from the call lands is encoded
by :mod:`flowengine.quoting` for either reading.
"""

from __future__ import annotations

import re

#: SWITCH_URL_UNSAFE (src/include/switch_utils.h)
URL_UNSAFE = frozenset(b"\r\n #%&+:;<=>?@[\\]^`{|}\"")
#: every byte switch_url_encode writes as %XX: controls, 0x7F and up, and the unsafe set
ENCODED = frozenset(b for b in range(256) if b < 0x20 or b >= 0x7F or b in URL_UNSAFE)

_ESCAPE = re.compile(rb"%([0-9A-F]{2})")
_HEX = frozenset(b"0123456789ABCDEF")


def encode(value: str) -> str:
    """``value`` as switch_url_encode writes it (UTF-8, each encoded byte as ``%XX``)."""
    data = value.encode("utf-8", "surrogatepass")
    out = bytearray()
    n = len(data)
    for i, b in enumerate(data):
        kept = b == 0x25 and i + 2 < n and data[i + 1] in _HEX and data[i + 2] in _HEX
        if b in ENCODED and not kept:
            out += b"%%%02X" % b
        else:
            out.append(b)
    return out.decode("ascii", "surrogateescape")


def decode_bytes(raw: bytes) -> str:
    """The text FreeSWITCH encoded as ``raw`` (see the module); invalid UTF-8 becomes U+FFFD."""
    if b"%" not in raw:
        return raw.decode("utf-8", "replace")

    def byte(m: re.Match) -> bytes:
        b = int(m.group(1), 16)
        if b not in ENCODED:
            return m.group(0)
        if b == 0x25:
            at = m.end()
            if raw[at:at + 1] and raw[at:at + 1][0] in _HEX and raw[at + 1:at + 2] and raw[at + 1] in _HEX:
                return m.group(0)
        return bytes((b,))

    return _ESCAPE.sub(byte, raw).decode("utf-8", "replace")


def decode(value: str) -> str:
    """:func:`decode_bytes` for a value already read as text."""
    if "%" not in value:
        return value
    return decode_bytes(value.encode("utf-8", "surrogatepass"))
