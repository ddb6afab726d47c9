"""Builders for every command an outbound socket may send; each returns the wire bytes.

The one rule that makes them safe: a value never changes the shape of the command.
FreeSWITCH ends a header line at CR or LF and a command at an empty line, and keeps
bodies as C strings, so CR, LF and NUL are refused (:class:`UnsafeValue`) wherever they
would be read as structure, before any byte exists. The single place where newlines are
legitimate, an application argument, is carried in a counted ``text/plain`` body
instead of a header. Caller ID names, DTMF digits and template output all pass through
here.
"""

from __future__ import annotations

import re
from typing import Iterable

from ..errors import UnsafeValue

#: Arguments longer than this go in a body: FreeSWITCH's header lines are meant to be short.
MAX_HEADER_ARG = 1024

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
    if not text or _SPACE.search(text):
        raise UnsafeValue(f"{what} must be one word without spaces: {text[:60]!r}")
    return text


def _header_name(value: object) -> str:
    name = _word(value, "header name")
    if ":" in name:
        raise UnsafeValue(f"header name contains ':': {name[:60]!r}")
    return name


def _format(fmt: str) -> str:
    if fmt not in _FORMATS:
        raise ValueError(f"event format must be one of {_FORMATS}, not {fmt!r}")
    return fmt


def _command(first: str, headers: Iterable[tuple[str, str]] = (), body: str | None = None) -> bytes:
    lines = [first]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if body is None:
        try:
            return ("\n".join(lines) + "\n\n").encode()
        except UnicodeEncodeError:    # a lone surrogate: no UTF-8 for it, nothing sent
            raise UnsafeValue("a value holds a lone UTF-16 surrogate, which has no UTF-8 form") from None
    if "\0" in body:
        raise UnsafeValue("a body contains NUL: FreeSWITCH would cut it there")
    try:
        data = body.encode()
    except UnicodeEncodeError:
        raise UnsafeValue("a value holds a lone UTF-16 surrogate, which has no UTF-8 form") from None
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
    return _command("bgapi " + _safe(command, "bgapi command").strip(),
                    [("Job-UUID", _word(job_uuid, "Job-UUID"))])


def sendevent(name: str, headers: Iterable[tuple[str, str]] = (), body: str | None = None) -> bytes:
    safe = [(_header_name(k), _safe(v, f"header {k}")) for k, v in headers]
    if body is not None:
        safe.append(("content-type", "text/plain"))
    return _command("sendevent " + _word(name, "event name"), safe, body)


# -- sendmsg ------------------------------------------------------------------------
def _sendmsg(uuid: str | None) -> str:
    return "sendmsg" if uuid is None else "sendmsg " + _word(uuid, "channel uuid")


def execute(app: str, arg: str | None = None, *, event_uuid: str | None = None,
            event_lock: bool = True, loops: int | None = None, uuid: str | None = None) -> bytes:
    """``sendmsg`` / ``call-command: execute``.

    An argument with a newline, leading or trailing blanks, or over
    :data:`MAX_HEADER_ARG` characters travels in a ``text/plain`` body, which FreeSWITCH
    uses as the argument when ``execute-app-arg`` is absent; everything else stays in the
    header, as a reader of a capture expects.
    """
    headers = [("call-command", "execute"), ("execute-app-name", _word(app, "application name"))]
    body = None
    if arg is not None and arg != "":
        text = str(arg)
        if ("\n" in text or "\r" in text or len(text) > MAX_HEADER_ARG
                or text != text.strip(" \t")):
            body = text
        else:
            headers.append(("execute-app-arg", _safe(text, "application argument")))
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
    return _command(_sendmsg(uuid), [("call-command", "hangup"),
                                     ("hangup-cause", _word(cause, "hangup cause"))])


def nomedia(nomedia_uuid: str, *, uuid: str | None = None) -> bytes:
    return _command(_sendmsg(uuid), [("call-command", "nomedia"),
                                     ("nomedia-uuid", _word(nomedia_uuid, "nomedia-uuid"))])
