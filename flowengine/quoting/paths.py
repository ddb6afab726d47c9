"""File paths: the call may supply names inside the author's folders, nothing else.

No ``..`` segment, no leading ``/`` (at the start :func:`.scan.view` sees), and only the
characters file names need (no ``!``, ``:``, ``{`` or ``@``). Why each, with FreeSWITCH's
source (switch_ivr_play_file, playback_function): docs/freeswitch.md, "Words and paths".
"""

from __future__ import annotations

import re

from ..errors import UnsafeValue
from .scan import view
from .text import is_trusted, untrusted_mask

#: what call data may hold in a path
PATH_CHARS = re.compile(r"[A-Za-z0-9_.+=/-]")


def path(value: str, what: str) -> str:
    """A file path: the call may supply names inside the author's folders, nothing else."""
    if is_trusted(value):  # the author's alone: every check below is about the call's characters
        return value
    text = str(value)
    mask = untrusted_mask(value)
    for i, c in enumerate(text):
        if mask[i] is not None and not PATH_CHARS.fullmatch(c):
            why = (
                "which playback reads as the start of a sample offset ('@@', mod_dptools.c playback_function)"
                if c == "@"
                else "which is not part of a file name"
            )
            raise UnsafeValue(f"{what}: the value of {mask[i]} contains {c!r}, {why}: {text[:60]!r}")
    # from where FreeSWITCH starts reading
    seen = view(text, mask)
    if seen.text.startswith("/") and mask[seen.where[0]] is not None:
        raise UnsafeValue(f"{what}: the value of {mask[seen.where[0]]} makes the path absolute: {text[:60]!r}")
    pos = 0
    for segment in seen.text.split("/"):
        end = pos + len(segment)
        who = next((mask[i] for i in seen.where[pos:end] if mask[i] is not None), None)
        if segment == ".." and who is not None:
            raise UnsafeValue(f"{what}: the value of {who} climbs out of the folder ('..'): {text[:60]!r}")
        pos = end + 1
    return value
