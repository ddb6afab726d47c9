"""Opaque values for channel variables: bytes that can never be FreeSWITCH syntax.

A value the engine stores on the channel for itself (the failover checkpoint) may hold
call data, and FreeSWITCH expands what it is given: ``set`` twice (mod_dptools.c
base_set; :data:`.expansion.EXPANDED_TWICE`), an ``api`` command line once
(switch_loadable_module.c switch_api_execute). Escaping would have to be right for each
pass; an alphabet with no syntax at all needs none. base64url (RFC 4648 §5) without
padding has only ``A-Z a-z 0-9 - _``: no ``$ { } \\ '``, no blank, no ``,`` or ``|``, so
it reads the same after any number of expansions and splits no argument.
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
