"""Opaque values for channel variables: bytes that can never be FreeSWITCH syntax.

A value the engine keeps on the channel (the failover checkpoint) is expanded by ``set``
twice and by ``api`` once; base64url without padding has no character any pass reads as
syntax (docs/freeswitch.md, "Values the engine keeps on the channel").
"""

from __future__ import annotations

import base64
import re

#: every character an opaque value may hold
_OPAQUE = re.compile(r"[A-Za-z0-9_-]*")


def opaque(data: bytes) -> str:
    """``data`` as base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unopaque(text: str, limit: int) -> bytes:
    """The bytes of an opaque value, read back from the channel: at most ``limit``
    characters of the alphabet, else ValueError (what is read back is call data)."""
    if len(text) > limit:
        raise ValueError(f"longer than {limit} characters")
    if _OPAQUE.fullmatch(text) is None:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
