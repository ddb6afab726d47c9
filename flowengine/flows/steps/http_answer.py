"""What an HTTP response gives a flow, without I/O: ``save:`` paths read from its JSON, and
the status and body variables.

Read where the request was performed, not on the call loop: the server's HTTP worker (or
in-process client) answers a :class:`SavingRequest` with :func:`read_answer`'s
:class:`ReadResult`; a driver that hands back the whole body (the flow tests, the simulator)
has it read by the step itself (:func:`saved`). Every value read is call data, stored as
:func:`flowengine.quoting.data` named after the step. Why: docs/http.md, "The engine: the HTTP
worker"; docs/security.md, "Nothing a peer or a flow sends can stall or exhaust the server".
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass

from ...quoting import data
from ..effects import HttpRequest, HttpResult

#: ``customer.tier``, ``items.0.name``: keys and list indexes, nothing else
PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
#: a flow variable ``save:`` may name
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: how much of a text response ``${http_body}`` holds
BODY_VARIABLE_BYTES = 16 * 1024
#: how long one saved value may be, in characters
MAX_VALUE = 4096
#: how many values one step may save
MAX_SAVES = 50
#: the most bytes the saved values of one answer take as UTF-8
MAX_SAVED_BYTES = MAX_SAVES * MAX_VALUE * 4


class Unreadable(ValueError):
    """The response is not JSON, or a ``save`` path is not in it as a single value."""


@dataclass(frozen=True, repr=False)  # repr: HttpRequest's, which shows no secret
class SavingRequest(HttpRequest):
    """An ``http`` step's request with what the step saves of a 2xx JSON answer:
    ``(variable, path)`` pairs, read by whatever performs it (:func:`read_answer`)."""

    save: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReadResult(HttpResult):
    """An answer read where it was performed: ``body`` is only what ``${http_body}``
    holds (:func:`kept_body`), ``saved`` the ``(variable, text)`` pairs of the request's
    ``save`` (plain strings; the step marks them as call data), or ``unreadable`` says
    why they could not be read (the step's ``error`` outcome)."""

    saved: tuple[tuple[str, str], ...] = ()
    unreadable: str = ""


def is_text(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind.startswith("text/") or kind == "application/json" or kind.endswith("+json")


def kept_body(body: bytes, content_type: str) -> bytes:
    """What ``${http_body}`` is made of: a text response's first 16 KiB, else nothing."""
    return body[:BODY_VARIABLE_BYTES] if is_text(content_type) else b""


def body_text(body: bytes, content_type: str) -> str:
    """What ``${http_body}`` holds: a text response's first 16 KiB, else nothing."""
    return kept_body(body, content_type).decode("utf-8", "replace")


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


def values(body: bytes, save: tuple[tuple[str, str], ...] | dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The ``(variable, text)`` pairs ``save`` names, read from a JSON ``body``: plain
    strings of at most :data:`MAX_VALUE` characters, none a lone surrogate."""
    pairs = tuple(save.items()) if isinstance(save, dict) else tuple(save)
    if len(pairs) > MAX_SAVES:
        raise Unreadable(f"{len(pairs)} values to save, more than {MAX_SAVES}")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise Unreadable(f"the response is not JSON ({exc.__class__.__name__})") from None
    except RecursionError:
        # json.loads recurses once per level of arrays and objects and stops, cleanly, at
        # the interpreter's recursion limit (about a thousand levels, reached in
        # microseconds even for a 1 MiB [[[…]]]). That is the bound: nothing here recurses
        # over the document afterwards (read() walks one path; saved values are scalars).
        raise Unreadable(
            f"the response is nested too deeply to read (arrays or objects about {sys.getrecursionlimit()} levels deep)"
        ) from None
    out = []
    for name, path in pairs:
        value = read(document, path)
        if isinstance(value, (dict, list)):
            raise Unreadable(f"{path!r} is an {'object' if isinstance(value, dict) else 'array'}, not a single value")
        text = "" if value is None else "true" if value is True else "false" if value is False else str(value)
        if len(text) > MAX_VALUE:
            raise Unreadable(f"{path!r} is {len(text)} characters, more than {MAX_VALUE}")
        out.append((name, _SURROGATE.sub("\ufffd", text)))  # as events are read (esl/json_event.py)
    return tuple(out)


def saved(body: bytes, save: dict[str, str], source: str) -> dict[str, str]:
    """The flow variables ``save`` names, read from a JSON ``body``, each marked as data."""
    return {name: data(text, source) for name, text in values(body, save)}


def read_answer(request: HttpRequest, result: HttpResult) -> HttpResult:
    """``result`` as the step needs it, read where it was performed: the values the
    request saves (a 2xx answer), and the body cut to what ``${http_body}`` holds. A
    failure is handed on as it is (it has no body)."""
    if result.failure is not None or result.status is None:
        return result
    save = request.save if isinstance(request, SavingRequest) else ()
    found: tuple[tuple[str, str], ...] = ()
    unreadable = ""
    if save and 200 <= result.status < 300:
        try:
            found = values(result.body, save)
        except Unreadable as exc:
            unreadable = str(exc)
    return ReadResult(
        result.status,
        kept_body(result.body, result.content_type),
        result.content_type,
        None,
        result.reason,
        result.seconds,
        found,
        unreadable,
    )


#: a lone surrogate (JSON may spell one as ``\ud800``): kept, it would make every command
#: built from the value unencodable and end the call with an encoding error
_SURROGATE = re.compile("[\ud800-\udfff]")
