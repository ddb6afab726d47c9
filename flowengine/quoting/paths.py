"""File paths: the call may supply names inside the author's folders, nothing else.

A path from the call is a file name, not a way around the author's folder: no ``..``
segment, no leading ``/`` (once the author's text FreeSWITCH may remove before it is gone:
an unset ``${…}``, ``\\'``, :func:`.scan.view`), and only the characters file names need —
no ``!``, which ``file_string://`` reads as a separator, no ``:``/``{``, which select a file
format or its parameters in ``switch_ivr_play_file`` (src/switch_ivr_play_say.c), and no
``@``: mod_dptools.c ``playback_function`` cuts its argument at the first ``@`` followed by
``@`` and reads the rest with ``atoi`` as the sample to start at, so ``vm@@480000`` in a
caller's name would drop the author's suffix (``.wav``) and skip into the file. A name the
call gives a recording never needs one either.
"""

from __future__ import annotations

import re

from ..errors import UnsafeValue
from .scan import view
from .text import untrusted_mask

#: what call data may hold in a path
PATH_CHARS = re.compile(r"[A-Za-z0-9_.+=/-]")


def path(value: str, what: str) -> str:
    """A file path: the call may supply names inside the author's folders, nothing else."""
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
