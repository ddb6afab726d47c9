"""FreeSWITCH's url-encoding of event header values, and the one decoding that inverts it.

:func:`decode` decodes only what ``switch_url_encode`` can have produced, so a ``%41`` or
``%2C`` in a caller name stays the text the caller sent, and ``encode(decode(w)) == w`` for
everything FreeSWITCH writes. The rules, with FreeSWITCH's source (switch_utils.c,
switch_event_serialize), and the one ambiguity left: docs/freeswitch.md, "Url-encoded values".
"""

from __future__ import annotations

import binascii
import re

#: SWITCH_URL_UNSAFE (src/include/switch_utils.h)
URL_UNSAFE = frozenset(b"\r\n #%&+:;<=>?@[\\]^`{|}\"")
#: every byte switch_url_encode writes as %XX: controls, 0x7F and up, and the unsafe set
ENCODED = frozenset(b for b in range(256) if b < 0x20 or b >= 0x7F or b in URL_UNSAFE)

_HEX = frozenset(b"0123456789ABCDEF")


#: a byte switch_url_encode writes as %XX, a ``%`` only when two uppercase hex digits do not follow
_TO_ENCODE = re.compile(
    b"[%s]|%%(?![0-9A-F]{2})" % b"".join(re.escape(bytes((b,))) for b in sorted(ENCODED) if b != 0x25)
)
_ESCAPED = {bytes((b,)): b"%%%02X" % b for b in ENCODED}


def encode(value: str) -> str:
    """``value`` as switch_url_encode writes it (UTF-8, each encoded byte as ``%XX``).

    One regex pass in C, a Python step only per byte encoded: the scripted FreeSWITCH
    encodes every header of every event it sends, and a step per byte made it the larger
    part of an in-memory call's CPU."""
    data = value.encode("utf-8", "surrogatepass")
    return _TO_ENCODE.sub(lambda m: _ESCAPED[m.group()], data).decode("ascii", "surrogateescape")


# -- decoding in bulk --------------------------------------------------------------------
# Which ``%`` to decode depends on the four bytes after it, and a value may hold millions
# of them (16 MiB of ``%20``): a Python step per escape stalled the loop for seconds. So
# each byte is classified by ``bytes.translate`` into bit flags, the flags of the
# following bytes are lined up with it by shifting the whole value held as one integer
# (byte ``i`` at bits ``8i``), and one AND tells every ``%`` to decode at once; those turn
# into ``=`` and ``binascii.a2b_qp`` (quoted-printable: ``=XX`` is the byte) decodes them.
# Every step is a C loop over the bytes; a value is worked on a MiB at a time, so the
# integers stay small.

#: second-digit bits of the ``%25`` before two hex digits (the ``%`` the encoder copied)
_PERCENT_25 = 0x40
_CHUNK = 1 << 20


def _digit_tables() -> tuple[bytes, bytes]:
    """Bit flags of a byte as the first and as the second digit of an escape: an escape
    ``%hc`` is one to decode when ``FIRST[h] & SECOND[c]`` is not 0. First digits that
    take the same second digits share a bit (six such groups); ``%25`` has a bit of its
    own, so that the rule about the copied ``%`` can clear it."""
    first, second = bytearray(256), bytearray(256)
    bits: dict[frozenset[int], int] = {}
    for h in sorted(_HEX):
        seconds = frozenset(c for c in _HEX if int(bytes((h, c)), 16) in ENCODED and (h, c) != (0x32, 0x35))
        bit = bits.setdefault(seconds, 1 << len(bits))
        first[h] |= bit
        for c in seconds:
            second[c] |= bit
    assert max(bits.values()) < _PERCENT_25  # each byte's flags stay under 0x80 (see _marked)
    first[0x32] |= _PERCENT_25
    second[0x35] |= _PERCENT_25
    return bytes(first), bytes(second)


_FIRST, _SECOND = _digit_tables()
_PERCENT = bytes(0x7F if b == 0x25 else 0 for b in range(256))
_HEX_25 = bytes(_PERCENT_25 if b in _HEX else 0 for b in range(256))
_EQUALS_FROM_PERCENT = 0x25 ^ 0x3D  # XOR that turns "%" into "="


def _number(data: bytes, table: bytes | None = None) -> int:
    return int.from_bytes(data if table is None else data.translate(table), "little")


def _marked(window: bytes, keep: int) -> bytes:
    """The first ``keep`` bytes of ``window`` with each ``%`` to decode made ``=``
    (``window`` holds the four bytes after them too, which decide the last ones)."""
    size = len(window)
    flags = (_number(window, _FIRST) >> 8) & (_number(window, _SECOND) >> 16) & _number(window, _PERCENT)
    if not flags:
        return window[:keep]
    if b"%25" in window:  # %25 before two hex digits: a % the encoder copied, not one it wrote
        hexes = _number(window, _HEX_25)
        flags ^= flags & (hexes >> 24) & (hexes >> 32)
    ones = _number(b"\x01" * size)
    decoded = ((flags + ones * 0x7F) >> 7) & ones  # 1 in each byte whose flags are not 0
    return (_number(window) ^ decoded * _EQUALS_FROM_PERCENT).to_bytes(size, "little")[:keep]


def decode_bytes(raw: bytes) -> str:
    """The text FreeSWITCH encoded as ``raw`` (see the module); invalid UTF-8 becomes U+FFFD.

    In time linear in ``raw`` with no step per escape (16 MiB of escapes: a fraction of a
    second). A ``=`` in ``raw`` is first written ``=3D``, so that a2b_qp gives it back as
    it is; that changes no decision, as ``=`` is no hex digit.
    """
    if b"%" not in raw:
        return raw.decode("utf-8", "replace")
    parts = []
    for at in range(0, len(raw), _CHUNK):
        keep = min(_CHUNK, len(raw) - at)
        window = raw[at : at + keep + 4]
        if b"=" in window:
            keep += 2 * raw.count(b"=", at, at + keep)
            window = window.replace(b"=", b"=3D")
        parts.append(_marked(window, keep))
    return binascii.a2b_qp(b"".join(parts)).decode("utf-8", "replace")


def decode(value: str) -> str:
    """:func:`decode_bytes` for a value already read as text."""
    if "%" not in value:
        return value
    return decode_bytes(value.encode("utf-8", "surrogatepass"))
