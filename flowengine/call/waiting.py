"""What a flow call waits for, and until when: the answers to its last write.

A write's answers come in its order; each before the last answers at once (a reply, or a
completion that follows at once), the last may take as long as its application runs. The
wait is over when the last is in, or at the first earlier one that failed. Between writes
(an HTTP request in flight, the drain) the call waits for no answer, only for its deadline.
"""

from __future__ import annotations

from typing import Any

from ..errors import CommandTimeout
from ..esl import OutboundProtocol, Ticket
from .lifecycle import failure
from .phases import Then

RESUME = Then.RESUME


class CallWait:
    """The wait in progress: ``tickets`` (the last one's answer settles it), how long the
    last may take (``span``), until when (``deadline``, monotonic seconds), and in the
    flow what its end leads to (``then``), the write's last application and a command
    refused before any byte of it was written (which fails the step once the rest is in)."""

    __slots__ = ("tickets", "span", "deadline", "then", "last_app", "refused")

    def __init__(self) -> None:
        self.tickets: list[Ticket] = []
        self.span = 0.0
        self.deadline: float | None = None
        self.then = RESUME
        self.last_app: str | None = None  # "hangup": the flow's own
        self.refused: Exception | None = None

    def on(self, tickets: list[Ticket], now: float, span: float, reply: float) -> None:
        """Wait for one write's answers: the last within ``span``, each before it within
        ``reply`` (they answer at once)."""
        self.tickets = tickets
        self.span = span
        self.deadline = now + (span if len(tickets) == 1 else reply)

    def wrote(
        self,
        tickets: list[Ticket],
        last_app: str | None,
        span: float,
        refused: Exception | None,
        now: float,
        reply: float,
    ) -> bool:
        """Wait for a write's answers, as :func:`.batching.write` gives them; False: every
        application in it was refused, nothing to wait for (:meth:`take_refused` fails the
        step now)."""
        if refused is not None:
            self.refused = refused
        if last_app is None:
            return False
        self.last_app = last_app
        self.on(tickets, now, span, reply)
        return True

    def take_refused(self) -> Exception | None:
        """The command refused before a byte of it was written, once."""
        refused, self.refused = self.refused, None
        return refused

    def until(self, deadline: float | None) -> None:
        """Wait for no answer, until ``deadline``."""
        self.tickets = []
        self.deadline = deadline

    def settled(self, proto: OutboundProtocol, now: float) -> tuple[Any, Exception | None] | None:
        """Once the wait is over: the last answer's result and what failed (an earlier
        answer, the last one, or a refused command); None while it goes on."""
        tickets = self.tickets
        while len(tickets) > 1:  # each before the last answers at once; the first that fails ends the wait
            first = tickets[0]
            if not first.done:
                return None
            failed = failure(first)
            if failed is not None:
                self.abandon(proto)
                return None, failed
            tickets.pop(0)
            if len(tickets) == 1:
                self.deadline = now + self.span
        last = tickets[0]
        if not last.done:
            return None
        tickets.pop()
        failed = failure(last) or self.refused
        self.refused = None
        return last.result, failed

    def timed_out(self, proto: OutboundProtocol, reply: float) -> CommandTimeout:
        """The deadline passed with answers due: they are abandoned; the error to settle with."""
        tickets = self.tickets
        span = self.span if len(tickets) <= 1 else reply
        first = next((t for t in tickets if not t.done), None)
        self.abandon(proto)
        return CommandTimeout(f"{first.command if first is not None else '?'!r}: no answer within {span:g} s")

    def abandon(self, proto: OutboundProtocol) -> None:
        """Answers no longer waited for: dropped as they come."""
        for ticket in self.tickets:
            proto.abandon(ticket)
        self.tickets = []
