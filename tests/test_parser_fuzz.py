"""Whatever bytes arrive, the parser and the events it yields raise only ProtocolError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from flowengine.errors import ProtocolError
from flowengine.esl import Event, Limits, Parser

from .conftest import load

SAMPLES = [load(n).inbound()[:6000] for n in ("api_bgapi", "json_events", "xml_events", "pagd_digit")]
TOKENS = [b"\n", b"\r\n", b"\n\n", b"Content-Length: ", b"Content-Type: text/event-plain",
          b"Content-Type: text/event-json", b"Content-Type: text/event-xml", b"Content-Type: command/reply",
          b"%", b"%0", b"ARRAY::", b"<event>",
          b"<headers>", b"{", b"\xff", b"-1", b"99999999999999999999", b"Event-Name: X", b"Content-Length: 5"]


def touch(message):
    if isinstance(message, Event):
        message.name, message.unique_id, message.application_uuid
        message.headers(), message.body, message.variables(), message.get_list("variable_DP_MATCH")
    else:
        repr(message)


def consume(data: bytes, sizes: list[int]) -> None:
    parser = Parser(Limits(max_header_bytes=4096, max_body_bytes=8192))
    pos = 0
    try:
        for size in sizes + [len(data)]:
            for message in parser.feed(data[pos:pos + size]):
                touch(message)
            pos += size
    except ProtocolError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 64), max_size=40))
def test_random_bytes(data, sizes):
    consume(data, sizes)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.lists(st.tuples(st.integers(0, 5999), st.sampled_from(TOKENS)), max_size=6),
       st.lists(st.integers(1, 700), max_size=20))
def test_mutated_real_frames(sample, edits, sizes):
    data = bytearray(sample)
    for at, token in edits:
        data[at:at + len(token)] = token
    consume(bytes(data), sizes)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS) | st.binary(max_size=12), max_size=60))
def test_token_soup(parts):
    consume(b"".join(parts), [])


def test_json_shapes_freeswitch_never_sends():
    import pytest
    for raw in (b"[1,2]", b"[]", b'"x"', b"3"):
        with pytest.raises(ProtocolError):
            Event.from_json(raw).name
    event = Event.from_json(b'{"Event-Name":"X","a":{"b":1},"c":[1,"2"],"d":7,"_body":"hi"}')
    assert event.headers() == [("Event-Name", "X"), ("a", '{"b": 1}'), ("c", "ARRAY::1|:2"), ("d", "7")]
    assert event.body == "hi" and event.get_list("c") == ["1", "2"]
