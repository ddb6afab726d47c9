"""The inbound control connection and the calls it follows: ``bgapi originate``, the
BACKGROUND_JOB that says whether the call was answered (``+OK <uuid>``) or why not
(``-ERR USER_BUSY``, ``-ERR NO_ANSWER`` …), then that channel's CHANNEL_HANGUP_COMPLETE with
the flow's result (originate_inbound_control).

Works on any socket object with ``recv`` / ``sendall`` / ``settimeout`` (a blocking one for
``run.py originate``, gevent's for the API). Only this connection's calls' events are asked
for: a ``filter`` per call on its channel's UUID and its job's (mod_event_socket.c: once a
connection has filters, only events matching one of them are sent), deleted when it ends.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..errors import FlowengineError, ProtocolError
from ..esl import AuthRequest, DisconnectNotice, Event, Limits, Parser, Reply, RudeRejection, commands
from ..esl.causes import CAUSES as FREESWITCH_CAUSES
from ..runtime import call_token
from ..runtime.result import CallResult

#: the events a control connection subscribes to
EVENTS = ("BACKGROUND_JOB", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE")
#: the filter that lets no event through by itself
NO_CHANNEL = "00000000-0000-0000-0000-000000000000"
#: results that mean the flow ran to its end (:class:`~flowengine.runtime.result.CallResult`)
COMPLETED = frozenset({CallResult.HANGUP.value, CallResult.ENDED.value, CallResult.TRANSFER.value})
#: the channel variable FreeSWITCH sets when a channel is answered (``ANSWER``): asked after a
#: reconnect of a call whose answer was not heard (:meth:`Dial.disposition`)
DISPOSITION = "endpoint_disposition"
#: what ``uuid_getvar`` answers for it while the channel rings: unset, or early media
RINGING = frozenset({"_undef_", "EARLY MEDIA"})
#: originate's causes a retry may help with
RETRIABLE = frozenset({"USER_BUSY", "NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL", "CALL_REJECTED"})


#: what an outcome is labelled with: FreeSWITCH's hangup cause names (:mod:`flowengine.esl.causes`;
#: originate's ``-ERR`` carries them too, switch_ivr_originate.c) and the dialer's own ends of a call
CAUSES = FREESWITCH_CAUSES | {"NOT_SENT", "NO_BACKGROUND_JOB", "CONTROL_CONNECTION_LOST"}
#: the label of any other cause (free text: a reason, an ``-ERR`` FreeSWITCH wrote)
OTHER_CAUSE = "OTHER"


def cause_label(cause: str | None) -> str:
    """``cause`` as a metrics label, one of :data:`CAUSES` or :data:`OTHER_CAUSE`: a label
    takes no free text (each distinct value is a series kept for the process's life).
    ``NOT_SENT: <reason>`` is ``NOT_SENT``."""
    name = (cause or "").split(":", 1)[0].strip()
    return name if name in CAUSES else OTHER_CAUSE


class ControlError(FlowengineError, OSError):
    """No usable control connection: refused, closed, timed out, the password refused."""


class State(StrEnum):
    QUEUED = "queued"
    RINGING = "ringing"  # originate sent, not answered yet
    IN_FLOW = "in flow"  # answered: the engine runs the flow
    DONE = "done"


@dataclass
class Dial:
    """One originated call followed to its end."""

    job: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    state: State = State.QUEUED
    answered: bool = False
    cause: str | None = None  # FreeSWITCH's: the job's -ERR, or the hangup cause
    result: str | None = None  # the engine's, from the channel (flowengine_result)
    sent_at: float | None = None
    answered_at: float | None = None
    # given up on (the cause it ends with): counted until its ``uuid_kill`` is answered
    giving_up: str | None = None
    _hangup: Event | None = None

    @property
    def completed(self) -> bool:
        """Answered, and the flow ran to its end."""
        return self.answered and self.result in COMPLETED

    def request(self, arg: str) -> bytes:
        """The filters for this call's events, then ``bgapi originate``: one write."""
        self.state = State.RINGING
        self.sent_at = time.monotonic()
        return (
            commands.filter("Job-UUID", self.job)
            + commands.filter("Unique-ID", self.uuid)
            + commands.bgapi(f"originate {arg}", self.job)
        )

    def release(self) -> bytes:
        return commands.filter_delete("Job-UUID", self.job) + commands.filter_delete("Unique-ID", self.uuid)

    def feed(self, event: Event) -> bool:
        """An event of this call's; True once the call is over."""
        name = event.name
        if name == "BACKGROUND_JOB" and event.get("Job-UUID") == self.job:
            body = (event.body or "").strip()
            if body.startswith("+OK"):
                self.answered = True
                self.answered_at = self.answered_at or time.monotonic()
                self.state = State.IN_FLOW
                if self._hangup is not None:
                    return self._over(self._hangup)
                return False
            self.cause = body.removeprefix("-ERR").strip()[:64] or "originate failed"
            self.state = State.DONE
            return True
        if event.get("Unique-ID") != self.uuid:
            return False
        if name == "CHANNEL_ANSWER":
            self.answered_at = self.answered_at or time.monotonic()
        elif name == "CHANNEL_HANGUP_COMPLETE":
            if not self.answered:  # before the job's answer: kept until it comes
                self._hangup = event
                return False
            return self._over(event)
        return False

    def disposition(self, text: str | None) -> bool:
        """What ``uuid_getvar <uuid> endpoint_disposition`` answered (``text``; None: not an
        api response) for this call's channel, known to exist: True when it is (or may be)
        answered, and is then held as answered from now. FreeSWITCH sets ``ANSWER`` when the
        channel is answered (switch_channel.c, switch_channel_perform_mark_answered; on the live
        channel in originate_to_socket_session), ``EARLY MEDIA`` on early media; unset, the
        api answers ``_undef_`` (mod_commands.c, uuid_getvar_function): only those two say
        "still ringing", and ``-ERR`` that the channel went since. Anything else (None too)
        may be an answer: better held as an answered call, to its deadline and not retried,
        than hung up in its flow or called twice."""
        if text in RINGING or (text is not None and text.startswith("-ERR")):
            return False
        # held as answered in full: its BACKGROUND_JOB went to the old connection, so a
        # hangup heard now must end it (not wait for a job that never comes, :meth:`feed`)
        self.answered_at = self.answered_at or time.monotonic()
        self.answered = True
        self.state = State.IN_FLOW
        return True

    def _over(self, event: Event) -> bool:
        self.cause = (event.get("Hangup-Cause") or event.variable("hangup_cause") or "")[:64] or None
        result = event.variable(call_token.RESULT_VARIABLE)
        self.result = result[:32] if result else None
        self.state = State.DONE
        return True

    def summary(self) -> str:
        if not self.answered:
            return f"not answered: {self.cause}"
        if self.completed:
            return f"answered; the flow ran to its end ({self.result}, {self.cause})"
        if self.result:
            return f"answered; the flow ended with {self.result} ({self.cause})"
        return f"answered; the flow did not say it ended (hung up: {self.cause})"


class Control:
    """One inbound connection to FreeSWITCH's event socket, authenticated, subscribed."""

    def __init__(self, sock: Any, *, where: str = "FreeSWITCH", limits: Limits = Limits()) -> None:
        self.sock = sock
        self.where = where
        self.parser = Parser(limits)
        self.pending: list[Any] = []

    def login(self, password: str, timeout: float) -> None:
        if any(c in password for c in "\r\n"):
            raise ControlError("a password cannot hold a line break")
        deadline = time.monotonic() + timeout
        greeting = self._until(lambda m: True, deadline)
        if isinstance(greeting, RudeRejection):
            raise ControlError(f"{self.where} refused this address (apply-inbound-acl in event_socket.conf.xml)")
        if not isinstance(greeting, AuthRequest):
            raise ControlError(f"{self.where} did not greet as FreeSWITCH's event socket does (auth/request)")
        self.send(f"auth {password}\n\n".encode())
        answer = self._until(lambda m: isinstance(m, Reply), deadline)
        if not answer.ok:
            raise ControlError(
                f"{self.where} refused the password ({answer.text.strip()}): give the event socket's "
                "password with --password (event_socket.conf.xml)"
            )
        # a filter no event matches first: from then on only the calls' own events come
        # (without any filter, every channel's of the host would, between two calls)
        self.send(commands.event("plain", *EVENTS) + commands.filter("Unique-ID", NO_CHANNEL))
        for _ in range(2):
            if not self._until(lambda m: isinstance(m, Reply), deadline).ok:
                raise ControlError(f"{self.where} refused the event subscription")

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ControlError(f"{self.where} closed the connection: {exc}") from None

    def receive(self, timeout: float | None) -> list[Any]:
        """What is in: the messages not taken yet, else what one read brings, waiting at
        most ``timeout`` (None: no limit); [] when nothing came in time."""
        if self.pending:
            out, self.pending = self.pending, []
            return out
        return self._recv(timeout)

    def _recv(self, timeout: float | None) -> list[Any]:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return []
        except OSError as exc:
            raise ControlError(f"reading from {self.where}: {exc}") from None
        if not data:
            raise ControlError(f"{self.where} closed the connection")
        try:
            messages = self.parser.feed(data)
        except ProtocolError as exc:
            raise ControlError(f"what {self.where} sent is not the event socket protocol: {exc}") from None
        if any(isinstance(m, DisconnectNotice) for m in messages):
            raise ControlError(f"{self.where} closed the connection (disconnect notice)")
        return messages

    def _until(self, wanted: Any, deadline: float) -> Any:
        """The first message ``wanted`` takes (the others are kept, in order)."""
        while True:
            for i, message in enumerate(self.pending):
                if wanted(message):
                    del self.pending[i]
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise ControlError(f"no answer from {self.where} in time")
            self.pending += self._recv(left)
