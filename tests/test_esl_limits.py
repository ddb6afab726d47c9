"""What one connection, and all of them together, may hold in the parser's buffer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from flowengine.errors import ProtocolError
from flowengine.esl import Limits, OutboundProtocol, Parser

from .conftest import load

CONNECT_REPLY = load("answer_playback_hangup").chunks("in")[0]   # the channel data of a real call


def partial_event(size: int, declared: int = 15 * 1024 * 1024) -> bytes:
    """The start of an event FreeSWITCH would frame, ``size`` bytes of its body sent."""
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % declared + b"x" * size


def test_a_parser_charges_what_it_holds_and_gives_it_back_when_the_message_is_whole():
    from flowengine.esl import BufferBudget
    budget = BufferBudget(1 << 20)
    parser = Parser(budget=budget)
    parser.feed(partial_event(1000, declared=3000))
    assert budget.used == parser.buffered > 1000
    parser.feed(b"x" * 1000)
    assert budget.used == parser.buffered
    (event,) = parser.feed(b"x" * 1000)
    assert budget.used == parser.buffered == 0 and budget.peak > 2000


def test_the_feed_that_would_pass_the_budget_ends_the_connection_holding_the_most():
    from flowengine.esl import BufferBudget
    budget = BufferBudget(100_000)
    first, second = Parser(budget=budget), Parser(budget=budget)
    told = []
    first.on_evicted = told.append
    first.feed(partial_event(60_000))
    second.feed(partial_event(50_000))              # the first holds more: it is ended
    assert len(told) == 1 and "held the most" in str(told[0]) and budget.evicted == 1
    assert "limit of 100000 bytes buffered across all connections" in str(told[0])
    assert first.buffered == 0 and budget.used == second.buffered > 50_000
    with pytest.raises(ProtocolError, match="held the most"):
        first.feed(b"x")                            # a broken stream stays broken
    second.feed(b"x" * 40_000)                      # the other goes on
    assert budget.used == second.buffered and budget.peak <= budget.limit


def test_the_feeding_connection_is_refused_when_it_would_hold_the_most():
    from flowengine.esl import BufferBudget
    budget = BufferBudget(100_000)
    first, second = Parser(budget=budget), Parser(budget=budget)
    first.feed(partial_event(30_000))
    with pytest.raises(ProtocolError, match="limit of 100000 bytes buffered across all connections.*would then "
                                            "hold the most"):
        second.feed(partial_event(80_000))
    assert budget.used == first.buffered and second.buffered == 0 and budget.evicted == 0
    first.feed(b"x" * 60_000)                       # nothing else held: room for it
    assert budget.used == first.buffered


def test_making_room_ends_as_few_as_it_takes_largest_first():
    from flowengine.esl import BufferBudget
    budget = BufferBudget(100_000)
    a, b, c, d = (Parser(budget=budget) for _ in range(4))
    a.feed(partial_event(40_000))
    b.feed(partial_event(30_000))
    c.feed(partial_event(20_000))
    d.feed(partial_event(5_000))                    # 95,000+ held
    d.feed(b"x" * 30_000)                           # over by ~30,000: a, the largest, is enough
    assert (a.error is not None, b.error, c.error, d.error) == (True, None, None, None)
    with pytest.raises(ProtocolError, match="would then hold the most"):
        b.feed(b"x" * 30_000)                       # b would pass d: b is the largest then
    assert b.error is not None and c.error is None and d.error is None
    assert budget.used == c.buffered + d.buffered <= budget.limit and budget.evicted == 1


def test_on_a_tie_the_feeding_connection_is_the_one_refused():
    from flowengine.esl import BufferBudget
    x, y = Parser(), Parser()
    x.feed(partial_event(40_000))
    budget = x.budget = y.budget = BufferBudget(2 * x.buffered - 5)
    x.feed(b"x")
    y.feed(partial_event(40_000 - 10))              # x holds 40,001 now: both fit
    with pytest.raises(ProtocolError, match="would then hold the most"):
        y.feed(b"x" * 11)                           # as much as x: y, asking, goes
    assert x.error is None and budget.used == x.buffered


def test_a_connection_holding_at_most_its_share_is_never_ended_and_the_count_is_exact():
    """Six connections on a 240,000-byte budget: the first three never hold more than
    their share (40,000 bytes), the other three as much as they like. Whatever the order,
    the small ones are never ended, the count never passes the limit and always equals
    what the live connections hold."""
    from flowengine.esl import BufferBudget

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 250_000)), max_size=40))
    def run(steps):
        limit = 240_000
        budget = BufferBudget(limit)
        parsers = [Parser(budget=budget) for _ in range(6)]
        ended = set()
        for index, size in steps:
            parser = parsers[index]
            if index in ended:
                continue
            data = partial_event(0) if parser.buffered == 0 else b""
            if index < 3:   # at most its share: the header and the bytes after it
                size = min(size, limit // 6 - parser.buffered - len(data) + 2)
            try:
                parser.feed(data + b"x" * max(0, size))
            except ProtocolError:
                ended.add(index)
            assert budget.used <= limit and budget.peak <= limit
            assert budget.used == sum(p.buffered for p in parsers)
        assert not ended & {0, 1, 2}
        for parser in parsers[:3]:
            parser.feed(b"")        # raises if it was ended for another's feed
    run()


def test_release_gives_back_what_a_closed_connection_held():
    from flowengine.esl import BufferBudget
    budget = BufferBudget(1 << 20)
    parser = Parser(budget=budget)
    parser.feed(b"Content-Type: api/response\nContent-Length: 9000\n\n" + b"y" * 5000)
    assert budget.used > 5000
    parser.release()
    assert budget.used == 0 and parser.buffered == 0
    parser.release()                                # twice is harmless
    assert budget.used == 0


def test_a_partial_header_block_counts_too():
    from flowengine.esl import BufferBudget
    budget = BufferBudget(1 << 20)
    parser = Parser(budget=budget)
    parser.feed(b"Event-Name: CUSTOM\n" * 100)
    assert budget.used == parser.buffered == 1900


def connecting(limits: Limits = Limits()) -> OutboundProtocol:
    proto = OutboundProtocol(limits)
    proto.connect()
    return proto


def test_before_the_connect_reply_a_large_body_is_refused_at_its_header():
    """FreeSWITCH sends nothing before the connect reply, a few KiB: a 15 MiB body is refused
    as soon as its Content-Length is read, before a byte of it is held."""
    proto = connecting()
    with pytest.raises(ProtocolError, match="before the reply to connect, over the 65536-byte limit"):
        proto.receive(partial_event(0))
    assert proto.closed and proto.parser.buffered == 0


def test_before_the_connect_reply_an_endless_header_block_is_refused_at_the_cap():
    proto = connecting(Limits(max_preconnect_bytes=10_000))
    proto.receive(b"Variable-X: 0123456789\n" * 400)
    with pytest.raises(ProtocolError, match="over the 10000-byte limit"):
        proto.receive(b"Variable-X: 0123456789\n" * 100)


def test_after_the_connect_reply_the_body_limit_applies_again():
    proto = connecting()
    proto.receive(CONNECT_REPLY)
    assert proto.channel is not None
    proto.receive(partial_event(1 << 20))
    assert proto.parser.buffered >= 1 << 20


def test_no_preconnect_cap_when_it_is_none():
    proto = connecting(Limits(max_preconnect_bytes=None))
    proto.receive(partial_event(200_000))
    assert proto.parser.buffered > 200_000


def test_the_default_limits():
    limits = Limits()
    assert (limits.max_header_bytes, limits.max_body_bytes, limits.max_preconnect_bytes, limits.max_headers) == (
        1 << 20, 16 << 20, 64 << 10, 8192)


# -- connections that have not answered connect: the budget's pool of their own ---------------

def test_before_the_connect_reply_a_connection_charges_the_preconnect_pool_and_then_the_budget():
    """Charged to the pool until the reply is in, and moved to the budget then, in the same
    read: a call never sits in the pool where the oldest holder gives way."""
    from flowengine.esl import BufferBudget
    budget = BufferBudget(1 << 20, preconnect=1 << 16)
    proto = OutboundProtocol(budget=budget)
    proto.connect()
    proto.receive(CONNECT_REPLY[:1000])
    assert budget.preconnect.used == 1000 and budget.used == 0
    proto.receive(CONNECT_REPLY[1000:] + partial_event(500, declared=1000))
    assert proto.channel is not None and budget.preconnect.used == 0
    assert budget.used == proto.parser.buffered > 500


def test_the_preconnect_pool_makes_room_by_ending_the_oldest_holder_whatever_its_size():
    from flowengine.esl import BufferBudget
    pool = BufferBudget(10_000, oldest_first=True)
    parsers = [Parser(budget=pool) for _ in range(4)]
    told: list[list] = [[] for _ in parsers]
    for parser, heard in zip(parsers, told):
        parser.on_evicted = heard.append
    for parser, size in zip(parsers[:3], (1000, 4000, 4000)):
        parser.feed(b"X-Pad: " + b"a" * (size - 7))
    parsers[3].feed(b"X-Pad: " + b"a" * (2500 - 7))    # 11,500: the oldest two go, not the largest
    assert [bool(heard) for heard in told] == [True, True, False, False]
    assert "held 1000 bytes of its answer the longest" in str(told[0][0])
    assert pool.used == 6500 == parsers[2].buffered + parsers[3].buffered
