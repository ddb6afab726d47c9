"""The parser against every recorded FreeSWITCH session, at every chunking."""

from __future__ import annotations

import random

import pytest

from flowengine.errors import ProtocolError
from flowengine.esl import (ApiResponse, DisconnectNotice, Event, Limits, Parser, RawMessage, Reply)

from .conftest import FIXTURE_NAMES, load


def canonical(messages):
    out = []
    for m in messages:
        if isinstance(m, Event):
            out.append(("event", m.format, m.headers(), m.body))
        else:
            out.append((type(m).__name__, m))
    return out


def feed_in_pieces(data: bytes, sizes) -> list:
    parser = Parser()
    messages, pos = [], 0
    for size in sizes:
        messages += parser.feed(data[pos:pos + size])
        pos += size
    messages += parser.feed(data[pos:])
    assert parser.buffered == 0
    return messages


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_any_chunking_gives_the_same_messages(name):
    t = load(name)
    data = t.inbound()
    whole = canonical(Parser().feed(data))
    per_record = []
    parser = Parser()
    for chunk in t.chunks("in"):
        per_record += parser.feed(chunk)
    rng = random.Random(name)
    random_sizes = [rng.randint(1, 3000) for _ in range(len(data) // 100)]
    assert canonical(per_record) == whole
    assert canonical(feed_in_pieces(data, [1] * len(data))) == whole
    assert canonical(feed_in_pieces(data, [7] * (len(data) // 7))) == whole
    assert canonical(feed_in_pieces(data, random_sizes)) == whole


# name, messages, (digits, read_result, invalid) of play_and_get_digits, bridge
# disposition, first CHANNEL_HANGUP cause, disconnect dispositions, DTMF digits seen
EXPECTED = [
    ("answer_playback_hangup", 21, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("any_application", 29, None, None, "DESTINATION_OUT_OF_ORDER", ["linger"], ""),
    ("api_bgapi", 25, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("api_capabilities", 25, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("app_arg_in_body", 21, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("argument_in_body", 33, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("array_in_header", 30, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("bridge_answered", 29, None, "SUCCESS", "NORMAL_CLEARING", ["linger"], ""),
    ("bridge_busy", 27, None, "USER_BUSY", "NORMAL_CLEARING", ["linger"], ""),
    ("bridge_fail_hangs_up_caller", 18, None, "NO_ROUTE_DESTINATION", "NO_ROUTE_DESTINATION", ["linger"], ""),
    ("bridge_no_answer", 27, None, "NO_ANSWER", "NORMAL_CLEARING", ["linger"], ""),
    ("caller_name_percent", 21, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("caller_hangup_during_pagd", 18, (None, None, None), None, "ORIGINATOR_CANCEL", ["linger"], ""),
    ("caller_hangup_during_playback", 18, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("caller_hangup_no_linger", 11, None, None, "NORMAL_CLEARING", ["disconnect"], ""),
    ("conference_hash_leaves", 25, None, None, "NORMAL_CLEARING", ["linger"], "#"),
    ("conference_kicked", 24, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("dtmf_stops_playback", 25, None, None, "NORMAL_CLEARING", ["linger"], "#"),
    ("early_media_filter", 13, None, None, None, ["linger"], ""),
    ("json_events", 22, ("1", "success", None), None, "NORMAL_CLEARING", ["linger"], "1"),
    ("language_missing", 29, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("originate_inbound_control", 22, None, None, None, [], ""),
    ("originate_socket_unquoted_session", 8, None, None, "NORMAL_CLEARING", ["disconnect"], ""),
    ("originate_to_socket_session", 14, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("pagd_all_invalid", 24, (None, "success", "9"), None, "NORMAL_CLEARING", ["linger"], "999"),
    ("pagd_digit", 25, ("2", "success", None), None, "NORMAL_CLEARING", ["linger"], "2"),
    ("pagd_invalid_then_valid", 23, ("3", "success", "9"), None, "NORMAL_CLEARING", ["linger"], "93"),
    ("pagd_multi_digit_terminator", 26, ("4321", "success", None), None, "NORMAL_CLEARING", ["linger"], "4321#"),
    ("pagd_timeout", 21, (None, "failure", None), None, "NORMAL_CLEARING", ["linger"], ""),
    ("playback_broken_by_api", 20, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("playback_missing_file", 21, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("queue_caller_hangs_up", 18, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("queue_exit_key", 28, None, None, "NORMAL_CLEARING", ["linger"], "1"),
    ("queue_no_agent", 24, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("queue_timeout", 23, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("record_missing_directory", 18, None, None, "DESTINATION_OUT_OF_ORDER", ["linger"], ""),
    ("record_session_whole_call", 33, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("sip_rfc2833_dtmf", 19, ("12", "success", None), None, "NORMAL_CLEARING", ["linger"], "12"),
    ("speak_flite", 30, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("speak_unknown_engine", 24, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("sync_mode", 15, None, None, "NORMAL_CLEARING", ["linger"], ""),
    ("variables_and_hangup_cause", 28, None, None, "USER_BUSY", ["linger"], ""),
    ("xml_events", 21, None, None, "NORMAL_CLEARING", ["linger"], ""),
]


def test_every_fixture_has_expectations():
    assert sorted(e[0] for e in EXPECTED) == FIXTURE_NAMES


@pytest.mark.parametrize("name,count,digits,bridge,cause,disconnects,dtmf", EXPECTED)
def test_key_results(name, count, digits, bridge, cause, disconnects, dtmf):
    messages = Parser().feed(load(name).inbound())
    assert len(messages) == count
    events = [m for m in messages if isinstance(m, Event)]
    completes = {e.application: e for e in events if e.name == "CHANNEL_EXECUTE_COMPLETE"}
    pagd = completes.get("play_and_get_digits")
    if digits is None:
        assert pagd is None
    else:
        var = pagd.application_data.split()[7]
        assert (pagd.variable(var), pagd.variable("read_result"), pagd.variable(var + "_invalid")) == digits
        assert pagd.application_response == "_none_"
    got_bridge = completes.get("bridge")
    assert (got_bridge.variable("originate_disposition") if got_bridge else None) == bridge
    assert next((e.hangup_cause for e in events if e.name == "CHANNEL_HANGUP"), None) == cause
    assert [m.disposition for m in messages if isinstance(m, DisconnectNotice)] == disconnects
    assert "".join(e.dtmf_digit for e in events if e.name == "DTMF") == dtmf


def test_connect_reply_is_the_channel_data():
    reply = Parser().feed(load("answer_playback_hangup").chunks("in")[0])[0]
    assert isinstance(reply, Reply) and reply.ok
    assert reply.text == "+OK\n"  # url-encoded on the wire: %2BOK%0A
    channel = reply.channel
    assert channel.get("Socket-Mode") == "async" and channel.get("Control") == "full"
    assert channel.get("Caller-Caller-ID-Number") == "5551234"
    assert channel.get("Caller-Caller-ID-Name") == "Alice"
    assert channel.get("Caller-Destination-Number") == "1000"
    assert channel.get("FreeSWITCH-IPv6") == "fd00::2"
    assert channel.get_list("variable_DP_MATCH") == ["1000", "1000"]
    assert channel.unique_id == channel.get("Channel-Unique-ID") == channel.variable("call_uuid")


def test_static_mode_is_reported():
    reply = Parser().feed(load("sync_mode").inbound())[0]
    assert reply.channel.get("Socket-Mode") == "static"


def test_replies_and_api_responses():
    messages = Parser().feed(load("api_bgapi").inbound())
    api = [m for m in messages if isinstance(m, ApiResponse)]
    assert [a.ok for a in api] == [True, False]
    assert api[1].body == "-ERR no_such_command Command not found!\n"
    jobs = [m for m in messages if isinstance(m, Reply) and m.job_uuid]
    assert jobs[1].job_uuid == "6b1f0d3c-5c2e-4f8a-9d61-2a7e3c4b5d01"
    assert jobs[1].text == "+OK Job-UUID: 6b1f0d3c-5c2e-4f8a-9d61-2a7e3c4b5d01"


def test_background_job_inner_body():
    events = [m for m in Parser().feed(load("api_bgapi").inbound()) if isinstance(m, Event)]
    jobs = [e for e in events if e.name == "BACKGROUND_JOB"]
    assert jobs[0].get("Job-Command") == "status"
    assert jobs[0].body.startswith("UP 0 years") and jobs[0].body.endswith("240K/8192K\n")
    assert len(jobs[0].body.encode()) == int(jobs[0].get("Content-Length"))
    assert jobs[0].get("Job-Owner-UUID") == jobs[0].get("Job-Owner-UUID").strip()


@pytest.mark.parametrize("name", ["json_events", "xml_events"])
def test_json_and_xml_read_like_plain(name):
    events = [m for m in Parser().feed(load(name).inbound()) if isinstance(m, Event)]
    assert {e.format for e in events} == {name.split("_")[0]}
    park = events[0]
    assert park.name == "CHANNEL_PARK"
    assert park.get("FreeSWITCH-IPv6") == "fd00::2"       # raw in JSON, encoded in XML
    assert park.get("Event-Date-GMT").endswith(" GMT")
    complete = [e for e in events if e.name == "CHANNEL_EXECUTE_COMPLETE"][1]
    assert complete.application_response in ("FILE PLAYED", "_none_")
    assert complete.get_list("variable_DP_MATCH")[0] == complete.get("Caller-Destination-Number")


def test_values_decoded_after_splitting_lines():
    raw = b"Event-Name: CUSTOM\nUnique-ID: u1\nvariable_note: line1%0Aline2%3A%20x\nvariable_plus: %2B1\n\n"
    event = Event.from_plain(raw)
    assert event.variable("note") == "line1\nline2: x"
    assert event.variable("plus") == "+1"
    assert event.get("Missing") is None and "Unique-ID" in event
    assert event.variables() == {"note": "line1\nline2: x", "plus": "+1"}


def test_repeated_headers_are_kept():
    event = Event.from_plain(b"Event-Name: CHANNEL_HANGUP_COMPLETE\nHangup-Cause: A\nX: 1\nHangup-Cause: B\n\n")
    assert event.hangup_cause == "A"
    assert event.get_all("Hangup-Cause") == ["A", "B"]


def test_a_two_line_reply_reads_as_any_other_reply():
    """Replies, one per command, are read on a short path; it must give what the general one does."""
    short = Parser().feed(b"Content-Type: command/reply\nReply-Text: +OK will linger\n\n"
                          b"Content-Type: command/reply\nReply-Text: -ERR caf\xc3\xa9\n\n")
    assert short == [Reply("+OK will linger", [("Content-Type", "command/reply"), ("Reply-Text", "+OK will linger")]),
                     Reply("-ERR caf\u00e9", [("Content-Type", "command/reply"), ("Reply-Text", "-ERR caf\u00e9")])]
    general = Parser().feed(b"Reply-Text: +OK will linger\nContent-Type: command/reply\n\n")[0]
    assert (general.text, sorted(general.headers)) == (short[0].text, sorted(short[0].headers))
    job = Parser().feed(b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: j-1\nJob-UUID: j-1\n\n")[0]
    assert job.job_uuid == "j-1" and job.text == "+OK Job-UUID: j-1"


def test_crlf_line_endings_are_accepted():
    data = (b"Content-Type: command/reply\r\nReply-Text: +OK\r\n\r\n"
            b"Content-Type: api/response\r\nContent-Length: 3\r\n\r\nabc"
            b"Content-Length: 56\r\nContent-Type: text/event-plain\r\n\r\n"
            b"Event-Name: DTMF\r\nDTMF-Digit: 5\r\nContent-Length: 2\r\n\r\nhi")
    messages = feed_in_pieces(data, [1] * len(data))
    assert messages[0] == Reply("+OK", [("Content-Type", "command/reply"), ("Reply-Text", "+OK")])
    assert messages[1].body == "abc"
    assert messages[2].name == "DTMF" and messages[2].dtmf_digit == "5"
    assert messages[2].body == "hi" and messages[2].get_all("DTMF-Digit") == ["5"]


def test_unknown_content_type_is_kept_raw():
    data = b"Content-Type: text/something-new\nContent-Length: 4\nX-A: 1\n\nbody"
    (message,) = Parser().feed(data)
    assert isinstance(message, RawMessage)
    assert message.content_type == "text/something-new" and message.body == b"body"


def test_other_documented_types():
    data = (b"Content-Type: auth/request\n\n"
            b"Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n"
            b"Content-Type: log/data\nContent-Length: 5\nLog-Level: 7\n\nhello")
    auth, rude, log = Parser().feed(data)
    assert auth.content_type == "auth/request"
    assert rude.body == "Access Denied, go away.\n"
    assert log.level == "7" and log.body == "hello"


def test_header_block_over_the_cap_is_a_protocol_error():
    parser = Parser(Limits(max_header_bytes=100))
    with pytest.raises(ProtocolError, match="header block"):
        for _ in range(30):
            parser.feed(b"X-Filler: 0123456789\n")
    assert parser.buffered == 0
    with pytest.raises(ProtocolError):
        parser.feed(b"\n")  # a broken stream stays broken


def test_body_over_the_cap_is_refused_before_buffering():
    parser = Parser(Limits(max_body_bytes=1000))
    with pytest.raises(ProtocolError, match="over the 1000-byte limit"):
        parser.feed(b"Content-Type: api/response\nContent-Length: 1001\n\n")


def test_default_body_cap_is_freeswitchs():
    with pytest.raises(ProtocolError):
        Parser().feed(b"Content-Type: api/response\nContent-Length: %d\n\n" % (16 * 1024 * 1024 + 1))


@pytest.mark.parametrize("value", [b"-1", b"12a", b"", b"\xd9\xa3"])
def test_bad_content_length(value):
    with pytest.raises(ProtocolError, match="Content-Length"):
        Parser().feed(b"Content-Type: api/response\nContent-Length: " + value + b"\n\nxx")


def test_bad_json_event_is_a_protocol_error_on_read():
    (event,) = Parser().feed(b"Content-Length: 5\nContent-Type: text/event-json\n\n{nope")
    with pytest.raises(ProtocolError):
        event.name


# -- bad input is a ProtocolError, never another exception ------------------------------

FRAMINGS = [
    b"Content-Length: %s\nContent-Type: text/event-plain\n\n",           # how FreeSWITCH frames events
    b"Content-Type: api/response\nContent-Length: %s\n\n",                # any other frame
    b"Event-Name: CHANNEL_DATA\nContent-Type: command/reply\nContent-Length: %s\n\n",  # connect reply shape
]


@pytest.mark.parametrize("framing", FRAMINGS, ids=["event", "api", "connect"])
@pytest.mark.parametrize("digits", [b"1" * 5000, b"0" * 5000], ids=["5000-ones", "5000-zeros"])
def test_a_content_length_of_thousands_of_digits_is_a_protocol_error(framing, digits):
    """int() refuses over 4,300 digits with a ValueError: the digits are counted first."""
    with pytest.raises(ProtocolError, match="bad Content-Length '1{40}'…|bad Content-Length '0{40}'…"):
        Parser().feed(framing % digits)


@pytest.mark.parametrize("framing", FRAMINGS, ids=["event", "api", "connect"])
@pytest.mark.parametrize("digits", ["²", "٣", "1²", "１２"])
def test_a_content_length_in_unicode_digits_is_a_protocol_error(framing, digits):
    """str.isdigit() takes these; FreeSWITCH writes ASCII digits (%d)."""
    with pytest.raises(ProtocolError, match="bad Content-Length"):
        Parser().feed(framing % digits.encode())


def test_more_than_twelve_digits_is_refused_even_when_small():
    with pytest.raises(ProtocolError, match="bad Content-Length"):
        Parser().feed(b"Content-Type: api/response\nContent-Length: 0000000000005\n\nhello")
    (reply,) = Parser().feed(b"Content-Type: api/response\nContent-Length: 000000000005\n\nhello")
    assert reply.body == "hello"


@pytest.mark.parametrize("value", ["1" * 5000, "²", "٣"], ids=["5000-digits", "superscript", "arabic-indic"])
def test_a_bad_inner_content_length_is_a_protocol_error(value):
    event = Event.from_plain(f"Event-Name: BACKGROUND_JOB\nContent-Length: {value}\n\nsome output".encode())
    with pytest.raises(ProtocolError, match="inner Content-Length"):
        event.body


def json_event(value: bytes) -> bytes:
    body = b'{"Event-Name":"CUSTOM","Unique-ID":"u1","x":' + value + b"}"
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body


@pytest.mark.parametrize("opening, depth", [(b"[", 100_000), (b'{"a":', 5_000)])
def test_json_nested_deeper_than_python_recurses_is_a_protocol_error(opening, depth):
    """json.loads would recurse and raise RecursionError; the depth is checked first."""
    closing = b"]" if opening == b"[" else b"}"
    (event,) = Parser().feed(json_event(opening * depth + b"1" + closing * depth))
    with pytest.raises(ProtocolError, match="nested deeper than 4"):
        event.name


def test_json_objects_100000_deep_are_refused_as_too_many_headers_before_they_are_read():
    with pytest.raises(ProtocolError, match="over the limit of 8192"):
        Parser().feed(json_event(b'{"a":' * 100_000 + b"1" + b"}" * 100_000))


def test_json_depth_counts_only_brackets_outside_strings():
    deep_text = b'["[[[[[[[[[[", "\\"[[[[[[[[", "\\\\", "{{{{{{"]'
    (event,) = Parser().feed(json_event(deep_text))
    assert event.get("x") == 'ARRAY::[[[[[[[[[[|:"[[[[[[[[|:\\|:{{{{{{'
    (event,) = Parser().feed(json_event(b'{"b":[{"c":"d"}]}'))   # 4 deep with the event itself
    assert event.name == "CUSTOM"
    (event,) = Parser().feed(json_event(b'{"b":[{"c":["d"]}]}'))  # 5 deep
    with pytest.raises(ProtocolError, match="nested deeper"):
        event.name


def test_json_that_is_not_utf8_is_a_protocol_error():
    body = '{"Event-Name":"CUSTOM"}'.encode("utf-16")
    (event,) = Parser().feed(b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body)
    with pytest.raises(ProtocolError):
        event.name


def xml_event(text: str, encoding: str = "utf-8") -> bytes:
    body = text.encode(encoding)
    return b"Content-Length: %d\nContent-Type: text/event-xml\n\n" % len(body) + body


ENTITY = ('<?xml version="1.0" encoding="{enc}"?><!DOCTYPE event [<!ENTITY x "expanded">]>'
          "<event><headers><Event-Name>&x;</Event-Name></headers></event>")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8"])
def test_an_xml_entity_is_refused_in_any_encoding(encoding):
    """A byte search for '<!ENTITY' misses it in UTF-16; expat, which decodes, does not."""
    (event,) = Parser().feed(xml_event(ENTITY.format(enc=encoding.upper()), encoding))
    with pytest.raises(ProtocolError, match="DOCTYPE or ENTITY|not UTF-8"):
        event.name


def test_xml_with_a_doctype_and_no_entity_is_refused():
    (event,) = Parser().feed(xml_event('<!DOCTYPE event SYSTEM "http://example.com/e.dtd"><event><headers/></event>'))
    with pytest.raises(ProtocolError, match="DOCTYPE"):
        event.name


@pytest.mark.parametrize("text", [
    '<?xml version="1.0" encoding="ISO-8859-1"?><event><headers><Event-Name>X</Event-Name></headers></event>',
    "<event><headers><Event-Name>X</Event-Name></headers></event>",   # as UTF-16 below
])
def test_xml_that_is_not_utf8_is_refused(text):
    data = xml_event(text, "utf-16") if "ISO" not in text else xml_event(text)
    (event,) = Parser().feed(data)
    with pytest.raises(ProtocolError, match="not UTF-8|is refused"):
        event.name


def test_xml_nested_deeper_than_freeswitch_writes_is_refused():
    deep = "<event><headers><Event-Name>" + "<a>" * 3_000 + "</a>" * 3_000 + "</Event-Name></headers></event>"
    (event,) = Parser().feed(xml_event(deep))
    with pytest.raises(ProtocolError, match="nested deeper than 4"):
        event.name
    deeper = "<event><headers><Event-Name>" + "<a>" * 100_000 + "</a>" * 100_000 + "</Event-Name></headers></event>"
    with pytest.raises(ProtocolError, match="over the limit of 8192"):  # so many tags: not even read
        Parser().feed(xml_event(deeper))


def test_xml_reads_each_header_text_before_its_first_child():
    text = ("<event><headers><Event-Name>CUSTOM</Event-Name><A>one%20<i/>tail</A><B/><C>&amp;&#65;</C></headers>"
            "<Content-Length>2</Content-Length><body>hi</body><body>second</body></event>")
    (event,) = Parser().feed(xml_event(text))
    assert event.headers() == [("Event-Name", "CUSTOM"), ("A", "one "), ("B", ""), ("C", "&A")]
    assert event.body == "hi"


def test_a_lone_surrogate_in_json_is_replaced_so_commands_built_from_it_encode():
    (event,) = Parser().feed(json_event(b'"a\\ud800b", "\\udc00k": "caf\\u00e9 \\ud83d\\ude00"'))
    assert event.get("x") == "a\ufffdb" and event.get("\ufffdk") == "café 😀"
    for name, value in event.headers():
        (name + value).encode()


# -- two-line frame heads, read once and remembered ---------------------------------------------

def test_a_frame_head_read_before_is_held_to_each_connections_own_limit():
    """FreeSWITCH frames every event as the same two lines, so their reading is kept; a
    connection with a lower body limit still refuses the length another took."""
    head = b"Content-Length: 5000\nContent-Type: text/event-plain\n\n"
    assert Parser(Limits(max_body_bytes=10_000)).feed(head) == []  # read; the body is still to come
    with pytest.raises(ProtocolError, match="Content-Length 5000 is over the 4000-byte limit"):
        Parser(Limits(max_body_bytes=4000)).feed(head)


def test_each_reply_has_headers_of_its_own_however_often_the_same_one_comes():
    parser = Parser()
    first, second = parser.feed(b"Content-Type: command/reply\nReply-Text: +OK\n\n" * 2)
    assert first == second == Reply("+OK", [("Content-Type", "command/reply"), ("Reply-Text", "+OK")])
    second.headers.append(("X-Mine", "changed"))  # read as remembered: still its own list
    (third,) = parser.feed(b"Content-Type: command/reply\nReply-Text: +OK\n\n")
    assert third.headers == [("Content-Type", "command/reply"), ("Reply-Text", "+OK")]


def test_the_frame_heads_remembered_are_bounded_and_read_alike_after_they_are_forgotten():
    from flowengine.esl import frames
    parser = Parser()
    replies = [b"Content-Type: command/reply\nReply-Text: +OK %d\n\n" % n for n in range(3 * frames._MAX_SEEN)]
    for data in replies + replies[::-1]:  # the second time round, the last remembered come first
        (reply,) = parser.feed(data)
        assert reply.text == data[40:-2].decode()
    assert len(frames._SEEN) <= frames._MAX_SEEN and len(frames._REPLY_TEXT) <= frames._MAX_SEEN
    long_reply = b"Content-Type: command/reply\nReply-Text: -ERR " + b"x" * 100_000 + b"\n\n"
    for _ in range(2):  # a long head is read each time, never kept (1,024 of them would be 100 MB)
        (reply,) = parser.feed(long_reply)
        assert reply.text == "-ERR " + "x" * 100_000
        assert long_reply[:-2] not in frames._SEEN and long_reply[:-2] not in frames._REPLY_TEXT
