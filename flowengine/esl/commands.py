"""Builders for every command an outbound socket may send; each returns the wire bytes.

A value never changes the shape of a command nor what FreeSWITCH reads from it: CR, LF and
NUL are refused (:class:`UnsafeValue`) wherever they would be read as structure, and so are a
header value starting ``ARRAY::`` and an indexed header name, before any byte exists; an
application argument always travels as a counted body. The rules, with FreeSWITCH's source
(read_packet, switch_event_add_header_string): docs/freeswitch.md, "How FreeSWITCH reads a
command".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import UnsafeValue

#: the longest body FreeSWITCH reads: mod_event_socket.c (read_packet) refuses a larger
#: Content-Length and drops the connection, and the call with it
MAX_BODY = 16 * 1024 * 1024
#: a header value FreeSWITCH would turn into an array (switch_event.c, switch_event_base_add_header)
ARRAY_PREFIX = "ARRAY::"

_FORMATS = ("plain", "json", "xml")
_SPACE = re.compile(r"\s")


def _safe(value: object, what: str) -> str:
    text = str(value)
    if "\n" in text or "\r" in text or "\0" in text:
        bad = "LF" if "\n" in text else "CR" if "\r" in text else "NUL"
        raise UnsafeValue(f"{what} contains {bad}, which would inject a protocol line: {text[:60]!r}")
    return text


def _word(value: object, what: str) -> str:
    """A single token: line-safe, non-empty and without spaces."""
    text = _safe(value, what)
    # printable ASCII has one space character, " ": most words (names, UUIDs) need no regex
    if not text or (" " in text if text.isascii() and text.isprintable() else _SPACE.search(text)):
        raise UnsafeValue(f"{what} must be one word without spaces: {text[:60]!r}")
    return text


def _header_name(value: object) -> str:
    name = _word(value, "header name")
    if ":" in name or "[" in name:
        # ':' would end the name early; '[' makes switch_event_base_add_header store the value
        # at an index of an array header of the name before it
        raise UnsafeValue(f"header name contains {':' if ':' in name else '['!r}: {name[:60]!r}")
    return name


def _format(fmt: str) -> str:
    if fmt not in _FORMATS:
        raise ValueError(f"event format must be one of {_FORMATS}, not {fmt!r}")
    return fmt


def _command(first: str, headers: Iterable[tuple[str, str]] = (), body: str | None = None) -> bytes:
    lines = [first]
    for name, value in headers:
        # read_packet skips the leading blanks; most values hold no prefix at all
        if ARRAY_PREFIX in value and value.lstrip(" ").startswith(ARRAY_PREFIX):
            raise UnsafeValue(
                f"header {name} would start with {ARRAY_PREFIX!r}, which FreeSWITCH reads as an "
                f"array (the prefix dropped, the value split at '|:'): {value[:60]!r}"
            )
        lines.append(f"{name}: {value}")
    if body is None:
        try:
            return ("\n".join(lines) + "\n\n").encode()
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 for it, nothing sent
            raise UnsafeValue("a value holds a lone UTF-16 surrogate, which has no UTF-8 form") from None
    if "\0" in body:
        raise UnsafeValue("a body contains NUL: FreeSWITCH would cut it there")
    try:
        data = body.encode()
    except UnicodeEncodeError:
        raise UnsafeValue("a value holds a lone UTF-16 surrogate, which has no UTF-8 form") from None
    if len(data) > MAX_BODY:
        raise UnsafeValue(
            f"a body of {len(data)} bytes is more than FreeSWITCH reads ({MAX_BODY}): it would drop the connection"
        )
    head = "\n".join(lines) + f"\ncontent-length: {len(data)}\n\n"
    return head.encode() + data


# -- session set-up ---------------------------------------------------------------
def connect() -> bytes:
    return b"connect\n\n"


def myevents(fmt: str = "plain") -> bytes:
    return b"myevents\n\n" if fmt == "plain" else f"myevents {_format(fmt)}\n\n".encode()


def linger(seconds: int | None = None) -> bytes:
    """Keep the socket after hangup; ``None`` lingers until we close it."""
    if seconds is None:
        return b"linger\n\n"
    return f"linger {int(seconds)}\n\n".encode()


def nolinger() -> bytes:
    return b"nolinger\n\n"


def event(fmt: str, *names: str) -> bytes:
    words = " ".join(_word(n, "event name") for n in names)
    return _command(f"event {_format(fmt)} {words}".rstrip())


def nixevent(*names: str) -> bytes:
    if not names:
        raise ValueError("nixevent needs at least one event name")
    return _command("nixevent " + " ".join(_word(n, "event name") for n in names))


def noevents() -> bytes:
    return b"noevents\n\n"


def filter(header: str, value: str) -> bytes:  # noqa: A001 - FreeSWITCH's own word
    return _command(f"filter {_header_name(header)} {_safe(value, 'filter value')}")


def filter_delete(header: str | None = None, value: str | None = None) -> bytes:
    """``filter delete all`` without arguments; else one header (and value)."""
    if header is None:
        return b"filter delete all\n\n"
    text = f"filter delete {_header_name(header)}"
    if value is not None:
        text += " " + _safe(value, "filter value")
    return _command(text)


def divert_events(on: bool) -> bytes:
    return b"divert_events on\n\n" if on else b"divert_events off\n\n"


def resume() -> bytes:
    return b"resume\n\n"


def getvar(name: str) -> bytes:
    return _command("getvar " + _word(name, "variable name"))


def log(level: str | int = "debug") -> bytes:
    return _command("log " + _word(level, "log level"))


def nolog() -> bytes:
    return b"nolog\n\n"


def exit() -> bytes:  # noqa: A001 - FreeSWITCH's own word
    return b"exit\n\n"


# -- api ----------------------------------------------------------------------------
def api(command: str) -> bytes:
    """Blanks around it are cut as FreeSWITCH cuts them (switch_api_execute's
    switch_strip_whitespace: space, tab, VT; CR and LF are refused), and nothing else: a
    value ending in another Unicode blank keeps it."""
    return _command("api " + _safe(command, "api command").strip(" \t\v"))


def bgapi(command: str, job_uuid: str) -> bytes:
    return _command("bgapi " + _safe(command, "bgapi command").strip(), [("Job-UUID", _word(job_uuid, "Job-UUID"))])


def sendevent(name: str, headers: Iterable[tuple[str, str]] = (), body: str | None = None) -> bytes:
    safe = [(_header_name(k), _safe(v, f"header {k}")) for k, v in headers]
    if body is not None:
        safe.append(("content-type", "text/plain"))
    return _command("sendevent " + _word(name, "event name"), safe, body)


# -- sendmsg ------------------------------------------------------------------------
def _sendmsg(uuid: str | None) -> str:
    return "sendmsg" if uuid is None else "sendmsg " + _word(uuid, "channel uuid")


def execute(
    app: str,
    arg: str | None = None,
    *,
    event_uuid: str | None = None,
    event_lock: bool = True,
    loops: int | None = None,
    uuid: str | None = None,
) -> bytes:
    """``sendmsg`` / ``call-command: execute``; the argument, when there is one, as the body.

    Never as ``execute-app-arg``: a header value starting ``ARRAY::`` loses the prefix and
    whatever follows starts the argument (``^^`` a new delimiter, ``%[`` scoped variables,
    ``{`` speech parameters, ``-bleg``), or is split at ``|:`` (array_in_header). With no
    ``execute-app-arg`` and ``content-type: text/plain``, switch_ivr_parse_event
    (src/switch_ivr.c) takes the body as the argument exactly, line breaks included
    (argument_in_body); only a NUL would end it, and is refused.
    """
    headers = [("call-command", "execute"), ("execute-app-name", _word(app, "application name"))]
    body = None if arg is None or arg == "" else str(arg)
    if event_lock:
        headers.append(("event-lock", "true"))
    if loops is not None:
        headers.append(("loops", str(int(loops))))
    if event_uuid is not None:
        headers.append(("Event-UUID", _word(event_uuid, "Event-UUID")))
    if body is not None:
        headers.append(("content-type", "text/plain"))
    return _command(_sendmsg(uuid), headers, body)


def hangup(cause: str = "NORMAL_CLEARING", *, uuid: str | None = None) -> bytes:
    return _command(_sendmsg(uuid), [("call-command", "hangup"), ("hangup-cause", _word(cause, "hangup cause"))])


def nomedia(nomedia_uuid: str, *, uuid: str | None = None) -> bytes:
    return _command(
        _sendmsg(uuid), [("call-command", "nomedia"), ("nomedia-uuid", _word(nomedia_uuid, "nomedia-uuid"))]
    )
