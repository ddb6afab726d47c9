"""A URL for the ``http`` step: the author fixes where it goes, the call fills in values.

The scheme, host and port are the author's; call data goes only into the path and the
query, percent-encoded, and may not make or complete a dot-segment or a ``%`` escape.
Why each rule: docs/security.md, "An HTTP step's URL".
"""

from __future__ import annotations

from urllib.parse import unquote

from ..errors import UnsafeValue
from .text import untrusted_mask

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
SCHEMES = ("http", "https")
_DOT_SEGMENTS = frozenset({".", ".."})
#: the longest URL sent (a server's request-line limit is usually 8 KiB)
MAX_URL = 8192


def authority_end(text: str) -> int:
    """Where the path starts: the first ``/``, ``?`` or ``#`` after ``scheme://``."""
    start = text.find("://")
    start = 0 if start < 0 else start + 3
    ends = [i for i in (text.find(c, start) for c in "/?#") if i >= 0]
    return min(ends) if ends else len(text)


def url(value: str, what: str = "url") -> str:
    """The URL to request, with every character from the call encoded (see the module)."""
    text = str(value)
    mask = untrusted_mask(value)
    scheme, sep, _ = text.partition("://")
    if not sep or scheme.lower() not in SCHEMES or any(mask[: len(scheme) + 3]):
        raise UnsafeValue(f"{what} must start with the flow's own http:// or https://: {text[:60]!r}")
    end = authority_end(text)
    # the character that ends the host must be the author's too: a call value "/x" or "?x"
    # right after it would be encoded, and the host would run on into it
    from_call = next((mask[i] for i in range(min(end + 1, len(text))) if mask[i] is not None), None)
    if from_call is not None:
        raise UnsafeValue(
            f"{what}: the value of {from_call} would be part of the host; call data may "
            f"only fill the path and the query"
        )
    if end == len(scheme) + 3:
        raise UnsafeValue(f"{what} has no host: {text[:60]!r}")
    _check_escapes(text, mask, what)
    out: list[str] = []
    for i, c in enumerate(text):
        if mask[i] is None and (c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F):
            raise UnsafeValue(f"{what}: the flow's URL holds {c!r}, which no URL may hold (write %20)")
        if mask[i] is None or c in _UNRESERVED:
            out.append(c)
        else:
            out.append("".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass")))
    _check_segments(text, mask, out, end, what)
    encoded = "".join(out)
    if len(encoded) > MAX_URL:
        raise UnsafeValue(f"{what} is {len(encoded)} characters, more than {MAX_URL}")
    return encoded


def _check_escapes(text: str, mask: list[str | None], what: str) -> None:
    """An author's ``%`` must be followed by two characters of the author's own."""
    for i, c in enumerate(text):
        if c == "%" and mask[i] is None:
            source = next((m for m in mask[i + 1 : i + 3] if m is not None), None)
            if source is not None:
                raise UnsafeValue(
                    f"{what}: the flow's '%' followed by the value of {source} would make an "
                    "escape of it (write %25 for a percent sign)"
                )


def _check_segments(text: str, mask: list[str | None], out: list[str], start: int, what: str) -> None:
    """No path segment that call data takes part in may be a dot-segment (see the module).
    ``out`` holds each character of ``text`` encoded; the path runs from ``start`` to the
    author's first ``?`` or ``#`` (the call's are encoded), its segments between the
    author's ``/``."""
    segment: list[str] = []
    source: str | None = None
    for i in range(start, len(text) + 1):
        author = i == len(text) or mask[i] is None
        if author and (i == len(text) or text[i] in "/?#"):
            if source is not None:
                pieces = unquote("".join(segment), errors="surrogateescape").replace("\\", "/").split("/")
                if _DOT_SEGMENTS & set(pieces):
                    raise UnsafeValue(
                        f"{what}: with the value of {source} a path segment would be a "
                        f"dot-segment (. or ..), which climbs the flow's path"
                    )
            if i == len(text) or text[i] != "/":
                return
            segment, source = [], None
            continue
        segment.append(out[i])
        source = source or mask[i]


def header_value(value: str, what: str) -> str:
    """A header value: a CR, LF or other control character (from anyone) would start a
    header of its own, so it is refused."""
    text = str(value)
    mask = untrusted_mask(value)
    for i, c in enumerate(text):
        if (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F:
            raise UnsafeValue(f"{what}: the value of {mask[i] or 'the flow'} holds {c!r}, which would end the header")
    return text
