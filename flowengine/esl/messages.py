"""The frames FreeSWITCH sends on an outbound socket, one small type each.

Events are :class:`~flowengine.esl.event.Event` itself. Anything with a Content-Type we
do not know becomes a :class:`RawMessage`: kept, never dropped, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .event import Event

Headers = list[tuple[str, str]]


def header(headers: Headers, name: str, default: str | None = None) -> str | None:
    """First header called ``name``, ignoring case as FreeSWITCH does."""
    lname = name.lower()
    for k, v in headers:
        if k.lower() == lname:
            return v
    return default


@dataclass(eq=True)
class Reply:
    """``command/reply``: the answer to one command, in command order.

    The answer to ``connect`` is special: it carries the call's channel data as its
    own headers, in ``channel``.
    """

    text: str
    headers: Headers = field(default_factory=list)
    channel: Event | None = None
    content_type = "command/reply"

    @property
    def ok(self) -> bool:
        return self.text.startswith("+OK")

    @property
    def refused(self) -> bool:
        """FreeSWITCH refused the command (mod_event_socket answers ``-ERR <why>``)."""
        return self.text.startswith("-ERR")

    @property
    def job_uuid(self) -> str | None:
        return header(self.headers, "Job-UUID")


@dataclass(eq=True)
class ApiResponse:
    """``api/response``: the output of ``api <command>``."""

    body: str
    headers: Headers = field(default_factory=list)
    content_type = "api/response"

    @property
    def ok(self) -> bool:
        return not self.body.startswith("-ERR")


@dataclass(eq=True)
class DisconnectNotice:
    """``text/disconnect-notice``: ``linger`` (more events follow) or the final one."""

    headers: Headers
    body: str = ""
    content_type = "text/disconnect-notice"

    @property
    def disposition(self) -> str | None:
        return header(self.headers, "Content-Disposition")

    @property
    def lingering(self) -> bool:
        return self.disposition == "linger"


@dataclass(eq=True)
class LogData:
    """``log/data``: one log line after ``log <level>``."""

    headers: Headers
    body: str
    content_type = "log/data"

    @property
    def level(self) -> str | None:
        return header(self.headers, "Log-Level")


@dataclass(eq=True)
class RudeRejection:
    """``text/rude-rejection``: FreeSWITCH's ACL refused the connection."""

    headers: Headers
    body: str
    content_type = "text/rude-rejection"


@dataclass(eq=True)
class AuthRequest:
    """``auth/request``: inbound-mode greeting (never sent on outbound sockets)."""

    headers: Headers
    content_type = "auth/request"


@dataclass(eq=True)
class RawMessage:
    """A frame of a type this library does not know: kept as it came."""

    headers: Headers
    body: bytes

    @property
    def content_type(self) -> str | None:
        return header(self.headers, "Content-Type")


Message = Reply | ApiResponse | Event | DisconnectNotice | LogData | RudeRejection | AuthRequest | RawMessage
