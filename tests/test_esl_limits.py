"""What one connection, and all of them together, may hold in the parser's buffer."""

from __future__ import annotations

import pytest

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


def test_the_feed_that_would_pass_the_budget_ends_that_connection_only():
    from flowengine.esl import BufferBudget
    budget = BufferBudget(100_000)
    first, second = Parser(budget=budget), Parser(budget=budget)
    first.feed(partial_event(60_000))
    with pytest.raises(ProtocolError, match="limit of 100000 bytes buffered across all connections"):
        second.feed(partial_event(50_000))
    assert budget.used == first.buffered            # the refused one gave back what it held
    first.feed(b"x" * 30_000)                       # the other goes on
    assert budget.used == first.buffered and budget.peak <= budget.limit
    with pytest.raises(ProtocolError):
        second.feed(b"x")                           # a broken stream stays broken


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
    assert (limits.max_header_bytes, limits.max_body_bytes, limits.max_preconnect_bytes) == (
        1 << 20, 16 << 20, 64 << 10)
