"""A host's check in flight over the calls' own sockets: the commands asked, their answers.

One call carries a host's questions at a time (the first command in flight names it); each
answer is read off its ticket as FreeSWITCH sent it (an ``api/response`` body, or a command
reply's text: ``-ERR`` without ``full`` control) into the host's :class:`~.plan.Plan`, and a
command whose call went away, or unanswered after :data:`STALE_SECONDS`, is given up (the plan
asks it once more).
"""

from __future__ import annotations

from typing import Any

from ..esl import ApiResponse, Reply, Ticket, commands
from .plan import Plan

#: a command asked this long ago and still unanswered is taken as lost (asked again)
STALE_SECONDS = 60.0


def answer_body(ticket: Ticket) -> str | None:
    """What a done ticket's answer says (None: no answer, or one that is no text)."""
    result = ticket.result if ticket.error is None else None
    if isinstance(result, ApiResponse):
        return result.body
    return result.text if isinstance(result, Reply) else None  # -ERR without `full`


class InFlight:
    """The commands in flight of one host: (command, ticket, protocol, asked at)."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: list[tuple[str, Ticket, Any, float]] = []

    def __bool__(self) -> bool:
        return bool(self.entries)

    def carried_by(self, proto: Any) -> bool:
        """Whether ``proto``'s call carries the commands in flight."""
        return bool(self.entries) and self.entries[0][2] is proto

    def ask(self, queries: list[str], proto: Any, now: float) -> bytes:
        """``queries`` asked on ``proto``'s socket at ``now``: the bytes to write."""
        out = []
        for query in queries:
            data = commands.api(query)
            self.entries.append((query, proto.command(data), proto, now))
            out.append(data)
        return b"".join(out)

    def settle(self, plan: Plan | None, now: float | None) -> None:
        """Give ``plan`` the answers that are in, and None for those that cannot come
        (``now``: the driver's clock, the one the commands were asked by; None: not known)."""
        keep = []
        for entry in self.entries:
            query, ticket, proto, asked = entry
            if ticket.done:
                if plan is not None:
                    plan.answered(query, answer_body(ticket))
            elif proto.closed or proto.finished or (now is not None and now - asked > STALE_SECONDS):
                proto.abandon(ticket)
                if plan is not None:
                    plan.answered(query, None)
            else:
                keep.append(entry)
        self.entries = keep
