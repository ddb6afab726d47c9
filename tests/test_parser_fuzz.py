"""Whatever bytes arrive, the parser and the events it yields raise only ProtocolError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from flowengine.errors import ProtocolError
from flowengine.esl import Event, Limits, OutboundProtocol, Parser
from flowengine.esl.serialize import encode_value, plain_event

from .conftest import load

CONNECT_REPLY = load("answer_playback_hangup").chunks("in")[0]
UUID = "bb05c26f-fd4e-49f8-842c-a306cad233fa"  # the call in that recording
SAMPLES = [load(n).inbound()[:6000] for n in ("api_bgapi", "json_events", "xml_events", "pagd_digit")]
TOKENS = [b"\n", b"\r\n", b"\n\n", b"Content-Length: ", b"Content-Type: text/event-plain",
          b"Content-Type: text/event-json", b"Content-Type: text/event-xml", b"Content-Type: command/reply",
          b"%", b"%0", b"ARRAY::", b"<event>",
          b"<headers>", b"{", b"\xff", b"-1", b"99999999999999999999", b"Event-Name: X", b"Content-Length: 5",
          b"1" * 5000, "²".encode(), "٣".encode(), b"[" * 3000, b"<!DOCTYPE e [<!ENTITY x 'y'>]>", b"&x;",
          "<!ENTITY".encode("utf-16-le"), b"\xff\xfe", b"\xef\xbb\xbf", b'<?xml version="1.0" encoding="UTF-16"?>']


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


# -- inputs int(), json and expat would turn into other exceptions (or entity expansion) ----

FRAMINGS = [b"Content-Length: %s\nContent-Type: text/event-plain\n\n",
            b"Content-Type: api/response\nContent-Length: %s\n\n",
            b"Event-Name: CHANNEL_DATA\nContent-Type: command/reply\nContent-Length: %s\n\n"]
# digits str.isdigit() accepts that are not ASCII: superscripts, Arabic-Indic, fullwidth, …
UNICODE_DIGITS = st.characters(categories=["Nd", "No"]).filter(lambda c: c.isdigit() and not c.isascii())
NUMBERS = st.one_of(st.text("0123456789", min_size=13, max_size=60),
                    st.tuples(st.integers(4000, 6000), st.sampled_from("0123456789")).map(lambda t: t[1] * t[0]),
                    st.text(UNICODE_DIGITS, min_size=1, max_size=5),
                    st.tuples(st.text("0123456789", max_size=3), UNICODE_DIGITS).map("".join))


def protocol_consume(data: bytes) -> None:
    """Through OutboundProtocol too: it reads DTMF durations, hangup causes, Job-UUIDs."""
    proto = OutboundProtocol(Limits(max_header_bytes=1 << 16, max_body_bytes=1 << 21))
    proto.connect()
    try:
        for message in proto.receive(CONNECT_REPLY + data):
            touch(message)
        for digit in proto.dtmf:
            assert digit.duration is None or isinstance(digit.duration, int)
    except ProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FRAMINGS), NUMBERS)
def test_any_content_length_digits(framing, number):
    consume(framing % number.encode(), [])
    protocol_consume(framing % number.encode())


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["DTMF-Duration", "Content-Length", "Linger-Time"]), NUMBERS,
       st.sampled_from(["DTMF", "BACKGROUND_JOB", "CHANNEL_HANGUP"]))
def test_numbers_inside_events(name, number, event_name):
    pairs = [("Event-Name", event_name), ("Unique-ID", UUID), ("DTMF-Digit", "1"), (name, number)]
    frame = plain_event(pairs) if name != "Content-Length" else plain_event(pairs[:3], "x")
    if name == "Content-Length":  # the inner one: its value is the fuzzed number
        frame = frame.replace(b"Content-Length: 1\n\nx", f"Content-Length: {encode_value(number)}\n\nx".encode())
    if name == "Linger-Time":
        frame = (f"Content-Type: text/disconnect-notice\nContent-Disposition: linger\nLinger-Time: {number}\n"
                 "Content-Length: 0\n\n").encode()
    consume(frame, [])
    protocol_consume(frame)


def nested(depth: int, kinds: list[bool], filler: bytes) -> bytes:
    opening = b"".join(b"[" if k else b'{"k":' for k in (kinds * depth)[:depth])
    closing = b"".join(b"]" if k else b"}" for k in reversed((kinds * depth)[:depth]))
    return b'{"Event-Name":"CUSTOM","x":' + opening + filler + closing + b"}"


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.integers(0, 12), st.integers(1000, 120_000)), st.lists(st.booleans(), min_size=1, max_size=4),
       st.sampled_from([b"1", b'"[[[[{{{{"', b'"\\\\"', b'"\\"]]]]"', b"[]", b'"', b"]]]]]]"]))
def test_json_of_any_depth(depth, kinds, filler):
    body = nested(depth, kinds, filler)
    data = b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body
    consume(data, [])
    protocol_consume(data)


XML_PROLOGUES = ["", '<?xml version="1.0"?>', '<?xml version="1.0" encoding="{enc}"?>']
DTDS = ["", '<!DOCTYPE event [<!ENTITY x "EXPANDED">]>', '<!DOCTYPE event [<!ENTITY % p "EXPANDED"> %p;]>',
        '<!DOCTYPE event SYSTEM "file:///etc/passwd">', '<!DOCTYPE event [<!ENTITY x SYSTEM "file:///etc/hostname">]>',
        '<!DOCTYPE event [<!ENTITY a "EXPANDED"><!ENTITY x "&a;&a;&a;&a;">]>']


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1"]),
       st.sampled_from(XML_PROLOGUES), st.sampled_from(DTDS), st.sampled_from(["&x;", "plain", "&amp;", "&#65;"]),
       st.integers(0, 8))
def test_xml_in_any_encoding_never_expands_an_entity(encoding, prologue, dtd, value, depth):
    declared = encoding.removesuffix("-sig").upper()
    text = (prologue.format(enc=declared) + dtd + "<event><headers><Event-Name>" + "<a>" * depth + value
            + "</a>" * depth + "</Event-Name></headers></event>")
    body = text.encode(encoding)
    data = b"Content-Length: %d\nContent-Type: text/event-xml\n\n" % len(body) + body
    for message in Parser().feed(data):
        try:
            headers = message.headers()
        except ProtocolError:
            continue
        assert not dtd and depth <= 1 and encoding in ("utf-8", "utf-8-sig", "latin-1")
        assert all("EXPANDED" not in v and "root:" not in v for _, v in headers)
    protocol_consume(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 0xFFFF).map(lambda c: b"\\u%04x" % c) | st.binary(max_size=4), max_size=12))
def test_json_escapes_give_text_that_encodes(parts):
    body = b'{"Event-Name":"CUSTOM","x":"' + b"".join(parts) + b'"}'
    try:
        for name, value in Event.from_json(body).headers():
            (name + value).encode()
    except ProtocolError:
        pass
