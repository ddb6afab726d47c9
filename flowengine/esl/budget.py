"""What all of a server's connections may hold between them: a :class:`BufferBudget`.

Each connection's :class:`~flowengine.esl.parser.Parser` charges here what it holds
after each feed (``Parser._charged`` is its charge) and is failed through
``Parser._evict`` when it must make room for another's read. A connection that has not
answered ``connect`` yet charges the budget's :attr:`BufferBudget.preconnect` pool
instead, if it has one, so that such connections, however many, never end a call.
"""

from __future__ import annotations

from typing import Protocol

from ..errors import ProtocolError

#: a server's connections that have not answered ``connect`` may hold its budget over this
#: much more (an eighth), in a pool of their own (:attr:`BufferBudget.preconnect`)
PRECONNECT_SHARE = 8


class Parser(Protocol):
    """What the budget needs of a connection's parser (:class:`flowengine.esl.parser.Parser`)."""

    _charged: int

    def _evict(self, error: ProtocolError) -> None: ...


class BufferBudget:
    """Bytes that many parsers (a server's connections) may hold between them, shared fairly.

    Each parser charges what it holds after each feed and gives it back when it yields
    the message or is released, so ``used`` is what the connections hold now; it never
    passes ``limit`` (memory may, by the one read being parsed). A feed that would take
    it past makes room by ending the connections that hold the most, largest first, as
    few as it takes:

    - if the feeding connection would itself be among them, it alone is refused (its feed
      is the :class:`ProtocolError`; refusing it is enough, as its bytes are not taken);
    - otherwise each of the others is failed at once (its buffer dropped, its charge
      given back here, so the count stays exact before the feed is taken) and its owner,
      told through :attr:`Parser.on_evicted`, ends the connection at its next turn of the
      loop; its next feed raises that error in any case.

    Why that is fair: victims are taken largest first while what is left still passes
    the limit, so when one holding ``h`` is taken, every connection left holds at most
    ``h`` and together more than ``limit``: there are more than ``limit / h`` of them. So
    a connection holding at most ``limit / n`` (n: the connections holding anything) is
    never ended for another's read: a call reading a 50-byte frame header goes on while
    four peers hold all but 20 bytes of the budget, and one of the four is ended.

    No fixed reserve per connection (say 64 KiB) is kept apart from the pool: past
    ``limit / reserve`` connections (1,024 at 64 MiB) the reserves alone would take the
    total past the limit, by as much as connections can be opened. The share shrinks
    instead, and a call holding ``h`` bytes is ended only when more than ``limit / h``
    connections each hold at least as much (over 10,000 peers to end one reading a 6 KiB
    event at 64 MiB). Finding the largest sorts the connections that hold anything:
    only on a feed that would pass the limit, and each such feed ends a connection.

    ``peak`` is the most ever held; ``evicted`` counts the connections ended to make
    room for another, for tests and benchmarks.

    ``preconnect`` (bytes, or None): connections that have not answered ``connect``
    charge a pool of their own of that size (:attr:`preconnect`), not this one. Each may
    hold only ``Limits.max_preconnect_bytes`` (64 KiB), but an idle one counts like a
    call, and three hundred idle connections from one address holding 3 KiB each ended a
    real call whose connect reply came in two reads (it held the most). In its own pool
    such a connection can end no call; and that pool makes room by ending the connections
    that have held bytes the longest (``oldest_first``), not the largest: FreeSWITCH
    answers ``connect`` at once, so one that has held part of an answer for long is idle,
    and a real call's connection, holding the first part of its answer for a
    millisecond, is the newest holder there.
    """

    __slots__ = ("limit", "used", "peak", "evicted", "oldest_first", "preconnect", "_holders")

    def __init__(self, limit: int, *, preconnect: int | None = None, oldest_first: bool = False) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        self.evicted = 0
        self.oldest_first = oldest_first
        self.preconnect = BufferBudget(preconnect, oldest_first=True) if preconnect else None
        # the parsers holding a charge now, in the order they began to hold one
        self._holders: dict[Parser, None] = {}

    def __repr__(self) -> str:
        return f"<BufferBudget {self.used}/{self.limit} bytes, peak {self.peak}, {len(self._holders)} holding>"

    def _charge(self, parser: Parser, held: int) -> None:
        """``parser`` now holds ``held`` bytes: take the difference, making room if need be."""
        more = held - parser._charged
        if more > 0 and self.used + more > self.limit:
            self._make_room(parser, held, more)
        self.used += more
        parser._charged = held
        if held:
            self._holders[parser] = None
        else:
            self._holders.pop(parser, None)
        if self.used > self.peak:
            self.peak = self.used

    def _give_back(self, parser: Parser) -> None:
        self.used -= parser._charged
        parser._charged = 0
        self._holders.pop(parser, None)

    def _make_room(self, asker: Parser, held: int, more: int) -> None:
        """End the largest holders (or the oldest) until ``more`` fits; raise if ``asker``
        is one of them."""
        need = self.used + more - self.limit
        if self.oldest_first:
            others = [p for p in self._holders if p is not asker]
        else:
            others = sorted((p for p in self._holders if p is not asker), key=_charged, reverse=True)
        victims: list[Parser] = []
        for parser in others:
            if parser._charged <= held and not self.oldest_first:  # the asker holds as much as any left: it goes
                break
            victims.append(parser)
            need -= parser._charged
            if need <= 0:
                break
        if need > 0 and self.oldest_first:  # it alone would pass the limit (no other holds a byte)
            raise ProtocolError(
                f"buffering {more} more bytes would take the connections that have not answered connect past "
                f"their limit of {self.limit} bytes (--max-buffered-bytes)"
            )
        if need > 0:  # the asker is among the largest: it alone is refused
            raise ProtocolError(
                f"buffering {more} more bytes would take the server past its limit of {self.limit} bytes "
                f"buffered across all connections ({self.used} held), and this connection would then hold "
                f"the most ({held} bytes of unfinished messages); it is ended, the others go on "
                "(--max-buffered-bytes)"
            )
        for parser in victims:
            self.evicted += 1
            if self.oldest_first:
                why = (
                    f"the server reached its limit of {self.limit} bytes buffered across the connections that "
                    f"have not answered connect, and this one had held {parser._charged} bytes of its answer the "
                    "longest (FreeSWITCH answers at once); it is ended to make room for the others "
                    "(--max-buffered-bytes)"
                )
            else:
                why = (
                    f"the server reached its limit of {self.limit} bytes buffered across all connections, and "
                    f"this connection held the most ({parser._charged} bytes of unfinished messages); it is "
                    "ended to make room for the others (--max-buffered-bytes)"
                )
            parser._evict(ProtocolError(why))


def _charged(parser: Parser) -> int:
    return parser._charged


def server_budget(limit: int, floor: int = 64 * 1024) -> BufferBudget:
    """A server's budget of ``limit`` bytes for its calls, with a pool of its eighth (at
    least ``floor``: one connection's ``Limits.max_preconnect_bytes``) for the connections
    that have not answered ``connect``."""
    return BufferBudget(limit, preconnect=max(floor, limit // PRECONNECT_SHARE))
