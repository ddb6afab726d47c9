"""A URL for the ``http`` step: the author fixes where it goes, the call fills in values.

``url: "https://crm.example.com/customers?phone=${caller_id_number}"``: the scheme, the
host and the port (everything before the first ``/``, ``?`` or ``#`` after ``//``) must be
the author's text, and must be ``http`` or ``https``; a value from the call there (or one
that would reach there: a call value ``@evil.example/`` after ``crm.example.com`` moves the
host) is refused. In the path and the query, every character from the call except RFC
3986's unreserved ones (``A-Za-z0-9-._~``) is percent-encoded as UTF-8, so call data can be
one path segment or one query value and nothing more: it can never add a segment, a
parameter, a fragment, nor climb with ``..`` (a dot stays, but the ``/`` around it would be
``%2F``). The author's own ``/ ? & = %`` are kept as written.

Whitespace and control characters from the call are encoded like the rest; in the author's
text they are refused (http.client would take them for a request-line injection).
"""

from __future__ import annotations

from ..errors import UnsafeValue
from .text import untrusted_mask

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
SCHEMES = ("http", "https")
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
    if not sep or scheme.lower() not in SCHEMES or any(mask[:len(scheme) + 3]):
        raise UnsafeValue(f"{what} must start with the flow's own http:// or https://: {text[:60]!r}")
    end = authority_end(text)
    # the character that ends the host must be the author's too: a call value "/x" or "?x"
    # right after it would be encoded, and the host would run on into it
    from_call = next((mask[i] for i in range(min(end + 1, len(text))) if mask[i] is not None), None)
    if from_call is not None:
        raise UnsafeValue(f"{what}: the value of {from_call} would be part of the host; call data may "
                          f"only fill the path and the query")
    if end == len(scheme) + 3:
        raise UnsafeValue(f"{what} has no host: {text[:60]!r}")
    out: list[str] = []
    for i, c in enumerate(text):
        if mask[i] is None and (c.isspace() or ord(c) < 0x20 or ord(c) == 0x7f):
            raise UnsafeValue(f"{what}: the flow's URL holds {c!r}, which no URL may hold (write %20)")
        if mask[i] is None or c in _UNRESERVED:
            out.append(c)
        else:
            out.append("".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass")))
    encoded = "".join(out)
    if len(encoded) > MAX_URL:
        raise UnsafeValue(f"{what} is {len(encoded)} characters, more than {MAX_URL}")
    return encoded


def header_value(value: str, what: str) -> str:
    """A header value: a CR, LF or other control character (from anyone) would start a
    header of its own, so it is refused."""
    text = str(value)
    mask = untrusted_mask(value)
    for i, c in enumerate(text):
        if (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7f:
            raise UnsafeValue(f"{what}: the value of {mask[i] or 'the flow'} holds {c!r}, which would "
                              "end the header")
    return text
