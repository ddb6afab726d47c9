"""The first call's wait for its host's application list (:meth:`.hosts.Hosts.first`).

A call whose flow may run an application outside FreeSWITCH's standard set, to a host whose
list is not known yet, asks ``show application`` itself and waits for that one answer before
its first command: FreeSWITCH hangs the caller up on an application it lacks (any_application).
Here, per host: the calls waiting (at most :data:`MAX_FIRST_ASKS`) and what their answers said,
kept apart from the host's check (:mod:`.inflight`), which takes the answer up and asks no more.
"""

from __future__ import annotations

from typing import Any

from ..esl import ApiResponse, Ticket, commands
from .checks import SHOW_APPLICATION
from .plan import read_list

#: calls of one host waiting for its application list at once; more go at once, as every
#: call did before the list was waited for
MAX_FIRST_ASKS = 64


class FirstAsks:
    """The calls of one host waiting for its application list, and what it said."""

    __slots__ = ("asks", "listed", "fresh")

    def __init__(self) -> None:
        self.asks: list[tuple[Any, Ticket]] = []  # (protocol, ticket): calls waiting for the list
        self.listed = False  # a list answer came to a call's own question (believed or not)
        self.fresh: tuple[frozenset[str] | None] | None = None  # that answer, for the next plan

    @property
    def full(self) -> bool:
        return len(self.asks) >= MAX_FIRST_ASKS

    def ask(self, proto: Any) -> tuple[bytes, Ticket]:
        """``proto``'s call asks for the list: the bytes to write, the ticket to wait for."""
        data = commands.api(SHOW_APPLICATION)
        ticket = proto.command(data)
        self.asks.append((proto, ticket))
        return data, ticket

    def take(self, proto: Any) -> tuple[bool, list[frozenset[str] | None]]:
        """The answers that are in, each the names it lists (None: nothing to go by), and
        whether ``proto``'s call asked one (it asks once). A call that went away, or
        ``proto``'s own, waits no longer: its unanswered ticket is abandoned."""
        asked, keep, answers = False, [], []
        for entry in self.asks:
            other, ticket = entry
            if other is proto:
                asked = True
            if ticket.done:
                if ticket.error is None:  # whatever it said, no call waits for it again
                    result = ticket.result
                    answers.append(read_list(result.body, "application") if isinstance(result, ApiResponse) else None)
                    self.listed = True
            elif other is not proto and not other.closed and not other.finished:
                keep.append(entry)
            else:
                other.abandon(ticket)
        self.asks = keep
        return asked, answers
