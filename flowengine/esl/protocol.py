"""The state of one outbound call's Event Socket conversation, without any I/O.

In the style of h11: the caller asks for a command (bytes to write, plus a
:class:`~.tickets.Ticket` to wait on), writes the bytes however it likes, and hands every byte it
reads to :meth:`OutboundProtocol.receive`. The protocol matches replies to commands in
order, applications to their CHANNEL_EXECUTE_COMPLETE by Application-UUID, background
jobs to their BACKGROUND_JOB by Job-UUID, queues DTMF, and notices the end of the call.
The gevent session, the replay tools and the benchmarks all drive this same object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import CallGone, CommandFailed, ProtocolError
from .budget import BufferBudget
from .event import Event
from .frames import Limits
from .messages import ApiResponse, DisconnectNotice, Message, Reply
from .parser import Parser
from .tickets import CommandQueue
from .wire import wire_int

# the events that change what this call is waiting for; the rest are not even decoded
_CALL_STATE_EVENTS = frozenset(("DTMF", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"))

#: digits kept until read: FreeSWITCH's own channel queue holds as many and, when full,
#: drops the oldest (SWITCH_DTMF_LOG_LEN; CHN:switch_channel_alloc, switch_channel_queue_dtmf).
#: A flow call on the event loop never takes them from here, so without a bound they would
#: pile up for as long as the peer sends DTMF events.
MAX_QUEUED_DTMF = 1000


@dataclass(frozen=True, slots=True)
class Dtmf:
    """One digit the caller pressed, as FreeSWITCH reported it."""

    digit: str
    duration: int | None  # in 8 kHz samples (2000 = 250 ms)
    source: str | None  # RTP, INBAND_AUDIO, ENDPOINT, APP, UNKNOWN


#: the cause of a call whose connection ended (EOF, reset) before FreeSWITCH reported a
#: hangup or sent a disconnect notice: the call was lost, not ended
LOST = "CONNECTION_LOST"


class OutboundProtocol(CommandQueue):
    """One call's conversation state. Not thread-safe; one owner drives it.

    Commands and their tickets: :class:`~.tickets.CommandQueue`; here, what comes back."""

    # slots: one of these lives as long as its call, thousands at once
    __slots__ = (
        "parser",
        "on_event",
        "channel",
        "uuid",
        "socket_mode",
        "control",
        "dtmf",
        "hangup_cause",
        "lingering",
        "hangup_complete",
        "hangup_event",
        "heard",
    )

    def __init__(
        self,
        limits: Limits = Limits(),
        *,
        new_uuid: Callable[[], str] | None = None,
        on_event: Callable[[Event], None] | None = None,
        budget: BufferBudget | None = None,
    ) -> None:
        CommandQueue.__init__(self, new_uuid)
        self.parser = Parser(limits, budget=budget)
        self.parser.hold_limit = limits.max_preconnect_bytes  # lifted once the channel is known
        self.on_event = on_event
        # the connect reply's channel data, then each of our completions that carries it
        self.channel: Event | None = None
        self.uuid: str | None = None
        self.socket_mode: str | None = None  # "async" or "static"
        self.control: str | None = None  # "full" or "single-channel"
        self.dtmf: list[Dtmf] = []  # oldest first
        self.hangup_cause: str | None = None
        self.lingering = False  # a linger disconnect notice came
        self.hangup_complete = False
        self.hangup_event = False  # CHANNEL_HANGUP (or _COMPLETE) came: the cause is known
        self.heard = False  # any byte came: a peer that sent none was no call

    # -- input --------------------------------------------------------------------
    def receive(self, data: bytes) -> list[Message]:
        """Feed bytes read from the socket; ``b""`` means the peer closed it.

        Raises :class:`ProtocolError` on bytes that are not the protocol; the call is then
        marked gone, and the connection must be closed.
        """
        if not data:
            self.connection_lost("connection closed by FreeSWITCH")
            return []
        self.heard = True
        try:
            messages = self.parser.feed(data)
            for message in messages:
                self._dispatch(message)  # reads events, so a bad JSON/XML body fails here
        except ProtocolError:
            self.connection_lost("protocol error")
            raise
        return messages

    def connection_lost(self, detail: str) -> None:
        self.closed = True
        self._mark_gone(self.hangup_cause or LOST, detail)

    def _dispatch(self, message: Message) -> None:
        if isinstance(message, Event):
            self._on_event(message)
        elif isinstance(message, (Reply, ApiResponse)):
            self._on_reply(message)
        elif isinstance(message, DisconnectNotice):
            if message.lingering:
                self.lingering = True
                self._mark_gone(self.hangup_cause or "UNKNOWN", "disconnect notice (linger)")
            else:
                self.closed = True
                self._mark_gone(self.hangup_cause or "UNKNOWN", "disconnect notice")

    def _on_reply(self, reply: Reply | ApiResponse) -> None:
        if not self._replies:
            return  # nothing asked for it (FreeSWITCH swallows only the first reply)
        ticket = self._replies.pop(0)
        ticket.reply = reply
        if ticket.done:
            return  # abandoned, or already failed by the hangup
        if isinstance(reply, Reply) and reply.channel is not None and self.channel is None:
            self._on_channel(reply.channel)
        if ticket.kind == "reply":
            self._finish(ticket, reply)
        elif isinstance(reply, Reply) and reply.refused:
            self._finish(ticket, error=CommandFailed(ticket.command, reply.text))
            self._forget(ticket)

    def _on_channel(self, channel: Event) -> None:
        """The connect reply's channel data: the call this connection now serves."""
        channel.check_short()  # kept for the call's life: no later read may fail
        self.channel = channel
        self.parser.lift_hold()  # a call now: events of up to max_body_bytes may come
        self.uuid = channel.get("Unique-ID") or channel.get("Channel-Unique-ID")
        self.socket_mode = channel.get("Socket-Mode")
        self.control = channel.get("Control")

    def _on_event(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)
        name = event.name
        if name == "CHANNEL_EXECUTE_COMPLETE":
            key = event.get("Application-UUID") or ""  # not .application_uuid: a call less, each completion
            ticket = self._executes.get(key)
            if ticket is not None:
                self._kept(event)  # before it is taken: a refused one fails its ticket with the call
                del self._executes[key]
                self._finish(ticket, event)
                if event.channel_data:  # newer than what we hold: keep one copy, not two
                    self.channel = event
            return
        if name == "BACKGROUND_JOB":
            ticket = self._jobs.pop(event.job_uuid or "", None)
            if ticket is not None:
                self._finish(ticket, event)
            return
        if name not in _CALL_STATE_EVENTS or not self._is_ours(event):
            return
        if name == "DTMF":
            if len(self.dtmf) >= MAX_QUEUED_DTMF:
                del self.dtmf[0]
            self.dtmf.append(
                Dtmf(event.dtmf_digit or "", wire_int(event.get_short("DTMF-Duration")), event.get("DTMF-Source"))
            )
        elif name == "CHANNEL_HANGUP":
            self.hangup_event = True
            self._mark_gone(event.hangup_cause or "UNKNOWN", "hangup")
        elif name == "CHANNEL_HANGUP_COMPLETE":
            self.hangup_complete = self.hangup_event = True
            self._mark_gone(event.hangup_cause or "UNKNOWN", "hangup")

    def _kept(self, event: Event) -> None:
        """``event`` completes an application: the flow keeps it until the next one, and
        as the channel if it carries the channel's data. So it must be no larger than
        ``Limits.max_kept_event_bytes`` (a call that kept 16 MiB events, twenty of them
        held 385 MB), and none of its short headers may fail a later read."""
        cap = self.parser.limits.max_kept_event_bytes
        if event.size > cap:
            raise ProtocolError(
                f"the completion of an application came as an event of {event.size} bytes, over "
                f"the {cap}-byte limit for an event a call keeps (Limits.max_kept_event_bytes); "
                "FreeSWITCH's carry a few KiB of channel data"
            )
        event.check_short()

    def _is_ours(self, event: Event) -> bool:
        return self.uuid is None or event.get("Unique-ID") in (None, self.uuid)

    def _mark_gone(self, cause: str, detail: str) -> None:
        if self.hangup_cause is None and cause not in ("UNKNOWN", "CONNECTION_LOST"):
            self.hangup_cause = cause
            if self.gone is not None:
                self.gone.cause = cause  # learned after the notice: keep the one error current
        if self.gone is None:
            self.gone = CallGone(cause, detail)
        self._fail_waiting(self.gone)

    # -- where the call stands ------------------------------------------------------
    @property
    def finished(self) -> bool:
        """Nothing more worth reading: the socket can be closed.

        With linger, FreeSWITCH keeps the socket open forever (``Linger-Time: -1``), so we
        close once the call is fully reported: the linger notice plus
        CHANNEL_HANGUP_COMPLETE (or, in static mode, where HANGUP_COMPLETE never comes,
        the notice alone).
        """
        if self.closed:
            return True
        return self.lingering and (self.hangup_complete or self.socket_mode == "static")
