"""What an HTTP response gives a flow, without I/O: ``save:`` paths read from its JSON, and
the status and body variables.

Every value read from a response is the call's data, like a caller ID name: it is stored
as :func:`flowengine.quoting.data` (marked whole, named after the step), so wherever a
later step puts it, :mod:`flowengine.quoting` encodes it for that place or refuses it, and
a ``${…}`` inside it is never expanded.
"""

from __future__ import annotations

import json
import re
import sys

from ..quoting import data

#: ``customer.tier``, ``items.0.name``: keys and list indexes, nothing else
PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
#: how much of a text response ``${http_body}`` holds
BODY_VARIABLE_BYTES = 16 * 1024
#: how long one saved value may be
MAX_VALUE = 4096


class Unreadable(ValueError):
    """The response is not JSON, or a ``save`` path is not in it as a single value."""


def is_text(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind.startswith("text/") or kind == "application/json" or kind.endswith("+json")


def body_text(body: bytes, content_type: str) -> str:
    """What ``${http_body}`` holds: a text response's first 16 KiB, else nothing."""
    if not is_text(content_type):
        return ""
    return body[:BODY_VARIABLE_BYTES].decode("utf-8", "replace")


def read(document: object, path: str) -> object:
    """The value at ``a.b.0.c``: object keys and list indexes."""
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise Unreadable(f"the response has no {path!r} (no {part!r} there)")
    return node


def saved(body: bytes, save: dict[str, str], source: str) -> dict[str, str]:
    """The flow variables ``save`` names, read from a JSON ``body``, each marked as data."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise Unreadable(f"the response is not JSON ({exc.__class__.__name__})") from None
    except RecursionError:
        # json.loads recurses once per level of arrays and objects and stops, cleanly, at
        # the interpreter's recursion limit (about a thousand levels, reached in
        # microseconds even for a 1 MiB [[[…]]]). That is the bound: nothing here recurses
        # over the document afterwards (read() walks one path; saved values are scalars),
        # and a linear depth scan before parsing would cost a 1 MiB body tens of ms on the loop.
        raise Unreadable("the response is nested too deeply to read (arrays or objects about "
                         f"{sys.getrecursionlimit()} levels deep)") from None
    out = {}
    for name, path in save.items():
        value = read(document, path)
        if isinstance(value, (dict, list)):
            raise Unreadable(f"{path!r} is an {'object' if isinstance(value, dict) else 'array'}, "
                             "not a single value")
        text = "" if value is None else "true" if value is True else "false" if value is False else str(value)
        if len(text) > MAX_VALUE:
            raise Unreadable(f"{path!r} is {len(text)} characters, more than {MAX_VALUE}")
        out[name] = data(_SURROGATE.sub("\ufffd", text), source)   # as events are read (esl/event.py)
    return out


#: a lone surrogate (JSON may spell one as ``\ud800``): kept, it would make every command
#: built from the value unencodable and end the call with an encoding error
_SURROGATE = re.compile("[\ud800-\udfff]")
