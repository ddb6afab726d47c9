"""The rules of one call's life over the outbound Event Socket, without any I/O.

Three drivers run calls: the server's :class:`~flowengine.call.flow_call.FlowCall` (bytes
in, bytes out, on the event loop), the greenlet
:class:`~flowengine.session.OutboundSession` and the in-memory
:class:`~flowengine.testing.memory.MemorySession`. Each does its own waiting; what a call
sends to set itself up, which answer is a refusal, when it must still be hung up and how
a kept error is stored are decided here once, so a flow test obeys the same rules as a
live call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

from ..errors import CommandFailed
from ..esl import ApiResponse, OutboundProtocol, Reply, Ticket, commands


@dataclass(frozen=True)
class Timeouts:
    """Every wait has one. Seconds.

    ``execute`` is long by default because a bridged call legitimately lasts hours; the
    flow layer passes tighter ones where it knows better.
    """

    connect: float = 10.0
    reply: float = 10.0
    execute: float = 4 * 3600.0
    drain: float = 5.0

    def completion(self, app: str) -> float:
        """How long an application's completion may take when nothing says otherwise: a
        hangup is answered at once, anything else may take hours."""
        return self.reply if app == "hangup" else self.execute


#: what ``myevents`` turns on that no flow reads: each would cost FreeSWITCH a serialization
#: and us a parse (CHANNEL_EXECUTE alone is one ~5 KB event per application). A type turned
#: off costs FreeSWITCH one table lookup per event (mod_event_socket.c, event_handler: the
#: listener's event_list is checked before its filters, the dup and the queue; serializing
#: happens later, in the listener's thread). What stays: CHANNEL_EXECUTE_COMPLETE and
#: CHANNEL_HANGUP. DTMF is read by FreeSWITCH itself for every step that takes digits
#: (play_and_get_digits, playback_terminators), never by a flow from its events; and
#: CHANNEL_HANGUP already carries the cause, so a flow call ends on it, without waiting
#: for CHANNEL_HANGUP_COMPLETE — the call's largest event (every variable, its timings) — or
#: what FreeSWITCH sends after it (the interrupted application's and the socket
#: application's completions, the linger notice: caller_hangup_during_playback,
#: answer_playback_hangup). The session API (:class:`~flowengine.session.OutboundSession`)
#: keeps both: its users may wait for DTMF and read the final event.
UNREAD_EVENTS = (
    "CHANNEL_EXECUTE",
    "CHANNEL_ANSWER",
    "CHANNEL_APPLICATION",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_CREATE",
    "CHANNEL_DESTROY",
    "CHANNEL_DATA",
    "CHANNEL_ORIGINATE",
    "CHANNEL_OUTGOING",
    "CHANNEL_PARK",
    "CHANNEL_UNPARK",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_STATE",
    "CHANNEL_UUID",
    "DETECTED_SPEECH",
    "TALK",
    "NOTALK",
    "DTMF",
    "CHANNEL_HANGUP_COMPLETE",
)


@dataclass(frozen=True)
class Setup:
    """What to send once ``connect`` is answered, all in one write (``data``).

    ``awaited``: each reply is waited for in turn, and a refusal ends the call.
    ``unawaited``: sent after them and never waited for (``nixevent``: fewer events,
    nothing lost, so an old FreeSWITCH refusing it must not fail the call).
    ``linger_refused``: linger was wanted, but FreeSWITCH refuses it without full control.
    """

    awaited: tuple[bytes, ...]
    unawaited: bytes
    linger_refused: bool
    data: bytes

    def warn(self, logger: logging.Logger, uuid: str | None) -> None:
        if self.linger_refused:
            logger.warning(
                "%s: socket is not 'full' control, so linger is refused; events after "
                "hangup may be lost (use 'socket … async full' in the dialplan)",
                uuid,
            )

    def register(self, proto: OutboundProtocol, logger: logging.Logger) -> list[Ticket]:
        """The set-up's commands registered on ``proto`` (a linger refusal logged), before
        ``data`` is written: the tickets of the ``awaited`` ones, in order."""
        self.warn(logger, proto.uuid)
        tickets = [proto.command(data) for data in self.awaited]
        if self.unawaited:
            proto.command(self.unawaited)
        return tickets


@cache  # a handful of combinations, the same bytes for every call
def setup(event_format: str, linger: bool, control: str | None, *, nixevent: bool = False) -> Setup:
    """The set-up for a call whose connect reply said ``control``. ``nixevent``: turn off
    :data:`UNREAD_EVENTS` (only where nothing reads them; needs full control)."""
    full = control == "full"
    awaited = (commands.myevents(event_format),) + ((commands.linger(),) if linger and full else ())
    unawaited = commands.nixevent(*UNREAD_EVENTS) if nixevent and full else b""
    return Setup(awaited, unawaited, linger and not full, b"".join(awaited) + unawaited)


def refusal(command: str, reply: object) -> CommandFailed | None:
    """FreeSWITCH refused ``command``: its reply reads ``-ERR …``. (An ``api`` output
    starting with ``-ERR`` is that command's output, not a refusal — except a set made by
    ``api uuid_setvar``, which answers ``+OK`` or why it set nothing: mod_commands.c.)"""
    if isinstance(reply, Reply) and reply.refused:
        return CommandFailed(command, reply.text)
    if isinstance(reply, ApiResponse) and command.startswith("api uuid_setvar ") and not reply.body.startswith("+OK"):
        return CommandFailed(command, reply.body.strip()[:200])
    return None


def reported(proto: OutboundProtocol) -> bool:
    """Nothing more a flow call needs to read: FreeSWITCH has said the call is over
    (CHANNEL_HANGUP, with its cause: what follows it is not read, see
    :data:`UNREAD_EVENTS`), or the socket is done."""
    return proto.finished or proto.hangup_event


def failure(ticket: Ticket) -> Exception | None:
    """What went wrong with an answered ticket: its error, or a command's refusal."""
    if ticket.error is not None:
        return ticket.error
    if ticket.kind == "reply":
        return refusal(ticket.command, ticket.result)
    return None


def must_hang_up(proto: OutboundProtocol, released: bool, hung_up: bool = False) -> bool:
    """At the end: is the call still ours and still up? Not once handed back to the
    dialplan (``released``), nor once a hangup of our own has completed (``hung_up``:
    a filter can hold CHANNEL_HANGUP back, and FreeSWITCH must never be asked twice)."""
    return proto.gone is None and not released and not hung_up and not proto.closed


E = TypeVar("E", bound=BaseException)


def kept(error: E) -> E:
    """``error``, ready to be kept past the call's handling (a summary, a later raise).

    Its traceback would hold the frames it was raised through, and they the call: a loop
    only a full garbage collection frees, which with thousands of calls up pauses every
    one of them. Without it the call is freed by reference counting when it ends.
    """
    error.__traceback__ = None
    return error
