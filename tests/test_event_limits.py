"""An event of millions of header lines is refused before it is read, not read at 40x its size.

A plain event is read lazily, a header at a time; but a name a flow reads in any case
(``${recordings_dir}``: a global variable no event carries) makes the engine read every
header of the call's newest event. A peer posing as FreeSWITCH answered ``answer`` with a
16 MiB CHANNEL_EXECUTE_COMPLETE of four million ``a:b`` lines: that read took ~650 MB and
seconds of the loop. The parser now counts an event's header lines (bytes.count) and
refuses one over ``Limits.max_headers`` as a ProtocolError that ends that call alone.
"""

from __future__ import annotations

import logging
import re
import socket as stdsocket
import time
from pathlib import Path

import gevent
import pytest
from gevent import socket
from hypothesis import given, settings, strategies as st

from flowengine.errors import ProtocolError
from flowengine.esl import Limits, Parser
from flowengine.esl.serialize import plain_event
from flowengine.flows import load_flows
from flowengine.server import CallServer
from flowengine.session import Timeouts
from flowengine.testing.scripted import ScriptedFreeSwitch

from . import freeswitch_model as model

FLOWS_DIR = Path(__file__).parent / "flows" / "limits"
FLOWS = load_flows(FLOWS_DIR)
MiB = 1024 * 1024


def inflate(frames: bytes, size: int = 16 * MiB) -> bytes:
    """The last frame of ``frames`` (a CHANNEL_EXECUTE_COMPLETE) with ``a:b`` lines added
    to its header block until the event is ``size`` bytes, FreeSWITCH's largest."""
    at = frames.rindex(b"Content-Length: ", 0, frames.rindex(b"Event-Name: CHANNEL_EXECUTE_COMPLETE"))
    inner = frames[frames.index(b"\n\n", at) + 2:]
    inner = inner[:-1] + b"a:b\n" * ((size - len(inner)) // 4) + b"\n"
    return frames[:at] + b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(inner) + inner


class ParseBomb(ScriptedFreeSwitch):
    """A FreeSWITCH whose completion of ``answer`` is the 16 MiB event."""

    def play(self, app: str, arg: str, key: str) -> bytes:
        return inflate(self.events("answer", arg, key)) if app == "answer" else super().play(app, arg, key)


def talk(sock, fs: ScriptedFreeSwitch) -> list[str]:
    """Answer the engine until it closes the connection; the applications it ran."""
    apps = []
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            apps += re.findall(r"execute-app-name: (\w+)", data.decode("utf-8", "replace"))
            for _, chunk in fs.receive(data):
                sock.sendall(chunk)
    except OSError:
        pass
    finally:
        sock.close()
    return apps


def test_the_16_mib_event_of_four_million_lines_ends_its_call_before_the_flow_reads_it(caplog):
    caplog.set_level(logging.INFO, logger="flowengine.server")
    server = CallServer(("127.0.0.1", 0), flows=lambda: FLOWS, timeouts=Timeouts(connect=60, reply=60, execute=60))
    server.start()
    try:
        bomb = ParseBomb(destination="2000")
        peer = gevent.spawn(talk, socket.create_connection(server.address), bomb)
        peer.join(timeout=60)
        assert peer.dead and peer.successful()
        assert peer.value == ["answer"]                       # the flow never got to record
        refused = [r.getMessage() for r in caplog.records if "malformed input" in r.getMessage()
                   and bomb.uuid in r.getMessage()]
        assert len(refused) == 1 and "over the limit of 8192 (Limits.max_headers)" in refused[0], refused
        assert server.budget.used == 0
        # the same call with an honest completion records as before
        honest = ScriptedFreeSwitch(destination="2000")
        peer = gevent.spawn(talk, socket.create_connection(server.address), honest)
        peer.join(timeout=60)
        assert peer.value == ["answer", "record"]
        assert any("outcome=ok" in r.getMessage() and honest.uuid in r.getMessage() for r in caplog.records)
    finally:
        server._server.close()
        for call in list(server.calls):
            call.close()


def peak_rss_mib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) // 1024


def test_the_server_process_reading_the_16_mib_event_stays_within_a_few_times_its_size(server):
    """run.py as a real process: its peak RSS grows by the event's buffers (~50 MiB), not
    by the ~600 MiB that reading four million headers took; the call ends on the error."""
    srv = server("--flows", str(FLOWS_DIR))
    before = peak_rss_mib(srv.proc.pid)
    sock = stdsocket.create_connection(("127.0.0.1", srv.port), timeout=60)
    started = time.monotonic()
    apps = talk(sock, ParseBomb(destination="2000"))
    grown = peak_rss_mib(srv.proc.pid) - before
    assert grown < 200, f"peak RSS grew by {grown} MiB in {time.monotonic() - started:.1f} s"
    assert apps == ["answer"]
    srv.wait_for("over the limit of 8192 (Limits.max_headers)", timeout=30)
    assert srv.stop() == 0


# -- the count, at the parser ---------------------------------------------------------------

def plain(lines: int, body: str | None = None) -> bytes:
    return plain_event([("Event-Name", "CUSTOM")] + [("a", "b")] * (lines - 1), body)


def test_a_plain_event_of_max_headers_lines_is_read_and_one_more_is_refused():
    (event,) = Parser(Limits(max_headers=300)).feed(plain(300))
    assert len(event.headers()) == 300
    with pytest.raises(ProtocolError, match="about 301 headers, over the limit of 300"):
        Parser(Limits(max_headers=300)).feed(plain(301))


def test_the_lines_of_a_plain_events_own_body_do_not_count():
    """A BACKGROUND_JOB's output (``show channels`` on a busy host) is its body, after the
    inner Content-Length: however many lines it has, the headers are few."""
    output = "uuid,direction,created\n" * 20_000
    (event,) = Parser().feed(plain(20, body=output))
    assert event.body == output and len(event.headers()) == 21


def json_event(body: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body


def test_a_json_event_counts_its_headers_names_and_values_not_the_quotes_its_body_escapes():
    headers = b",".join(b'"h%d":"v"' % i for i in range(300))
    (event,) = Parser(Limits(max_headers=300)).feed(json_event(b"{" + headers + b"}"))
    assert len(event.headers()) == 300
    with pytest.raises(ProtocolError, match="over the limit of 300"):
        Parser(Limits(max_headers=300)).feed(json_event(b"{" + headers + b',"x":"y","z":"w"}'))
    # a JSON api output as a BACKGROUND_JOB's body: thousands of escaped quotes, two headers
    inner = b'{\\"rows\\":[' + b",".join(b'{\\"uuid\\":\\"u%d\\"}' % i for i in range(5_000)) + b"]}"
    (event,) = Parser(Limits(max_headers=300)).feed(json_event(b'{"Event-Name":"BACKGROUND_JOB","_body":"'
                                                                + inner + b'"}'))
    assert event.body.count('"uuid"') == 5_000


def test_a_json_event_counts_the_values_of_its_arrays_though_they_have_no_quotes():
    """An array of 8 million numbers in one header: no quote to count, ~760 MiB and 11 s
    to read; FreeSWITCH's arrays are a header's few repeated values."""
    items = b",".join([b"0"] * 598)      # 599 values, the name's included: 2 x 300 at most
    (event,) = Parser(Limits(max_headers=300)).feed(json_event(b'{"Event-Name":"CUSTOM","a":[' + items + b"]}"))
    assert len(event.get_list("a")) == 598
    with pytest.raises(ProtocolError, match="over the limit of 300"):
        Parser(Limits(max_headers=300)).feed(json_event(b'{"Event-Name":"CUSTOM","a":[' + items + b",0,0,0]}"))
    with pytest.raises(ProtocolError, match="about 4[0-9]{6} headers, over the limit of 8192"):
        Parser().feed(json_event(b'{"a":[' + b"0," * (8 * MiB - 10) + b"0]}"))


def test_an_xml_event_counts_its_tags():
    def xml(count: int, declaration: bytes = b"") -> bytes:
        text = declaration + b"<event><headers>" + b"".join(b"<h%d>v</h%d>" % (i, i) for i in range(count)) + \
            b"</headers><body>x &lt;y/&gt;</body></event>"
        return b"Content-Length: %d\nContent-Type: text/event-xml\n\n" % len(text) + text

    (event,) = Parser(Limits(max_headers=300)).feed(xml(300))
    assert len(event.headers()) == 300
    with pytest.raises(ProtocolError, match="over the limit of 300"):
        Parser(Limits(max_headers=300)).feed(xml(304))
    (event,) = Parser(Limits(max_headers=300)).feed(xml(300, b'<?xml version="1.0"?>'))
    assert len(event.headers()) == 300


def test_an_xml_event_with_attributes_is_refused_as_freeswitch_writes_none():
    """One tag may carry a million attributes: a single ``<`` to count."""
    attributes = b" ".join(b'a%d="%s"' % (i, b">" if i == 0 else b"") for i in range(1_000_000))
    text = b"<event><headers><Event-Name " + attributes + b">X</Event-Name></headers></event>"
    with pytest.raises(ProtocolError, match="attribute is refused"):
        Parser().feed(b"Content-Length: %d\nContent-Type: text/event-xml\n\n" % len(text) + text)


def test_a_header_block_of_more_lines_is_refused_before_it_is_split():
    """The connect reply is a header block (the channel data), up to 1 MiB: 200,000 lines
    of it would be as many tuples once split."""
    with pytest.raises(ProtocolError, match="header block of 200001 lines, over the limit of 8192"):
        Parser().feed(b"Event-Name: CHANNEL_DATA\n" + b"a: b\n" * 200_000 + b"\n")
    with pytest.raises(ProtocolError, match="over the limit of 8192"):
        Parser().feed(b"Content-Type: api/response\n" + b"a: b\n" * 200_000 + b"\n")


# -- a header the engine reads from every event, and an event a call keeps -------------------

def padded(frames: bytes, line: bytes) -> bytes:
    """The last frame of ``frames`` (a CHANNEL_EXECUTE_COMPLETE) with ``line`` added to its
    header block."""
    at = frames.rindex(b"Content-Length: ", 0, frames.rindex(b"Event-Name: CHANNEL_EXECUTE_COMPLETE"))
    inner = frames[frames.index(b"\n\n", at) + 2:]
    inner = inner[:-1] + line + b"\n\n"
    return frames[:at] + b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(inner) + inner


class PercentName(ScriptedFreeSwitch):
    """A FreeSWITCH that, before it answers, sends an event of 16 MiB whose name is ``%20``
    over and over: every event's name is read, and each escape took a Python step."""

    def play(self, app: str, arg: str, key: str) -> bytes:
        if app != "answer":
            return super().play(app, arg, key)
        body = b"Event-Name: " + b"%20" * ((16 * MiB - 64) // 3) + b"\n\n"
        return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body + \
            super().play(app, arg, key)


class BigCompletion(ScriptedFreeSwitch):
    """A FreeSWITCH whose completion of ``answer`` carries a 2 MiB channel variable: the
    call would keep it (the flow reads its variables until the next completion, and it
    stands for the channel) for as long as the call lasts."""

    def play(self, app: str, arg: str, key: str) -> bytes:
        frames = super().play(app, arg, key)
        return padded(frames, b"variable_pad: " + b"a" * (2 * MiB)) if app == "answer" else frames


@pytest.mark.parametrize("peer, why", [
    (PercentName, "the Event-Name header of an event holds 16777152 bytes, over the limit of 256"),
    (BigCompletion, "over the 1048576-byte limit for an event a call keeps (Limits.max_kept_event_bytes)"),
], ids=["percent-name", "2-MiB-completion"])
def test_an_event_the_engine_would_decode_or_keep_whole_ends_its_call_and_no_other(peer, why, caplog):
    """Over loopback, beside an honest call: the bad peer's call ends on a ProtocolError
    naming the limit, before its flow goes on (record); the honest one runs to its end."""
    caplog.set_level(logging.INFO, logger="flowengine.server")
    server = CallServer(("127.0.0.1", 0), flows=lambda: FLOWS, timeouts=Timeouts(connect=60, reply=60, execute=60))
    server.start()
    try:
        bad, honest = peer(destination="2000"), ScriptedFreeSwitch(destination="2000")
        calls = [gevent.spawn(talk, socket.create_connection(server.address), fs) for fs in (bad, honest)]
        gevent.joinall(calls, timeout=60)
        assert [c.value for c in calls] == [["answer"], ["answer", "record"]]
        refused = [r.getMessage() for r in caplog.records if "malformed input" in r.getMessage()]
        assert len(refused) == 1 and why in refused[0] and bad.uuid in refused[0], refused
        assert any("outcome=ok" in r.getMessage() and honest.uuid in r.getMessage() for r in caplog.records)
    finally:
        server._server.close()
        for call in list(server.calls):
            call.close()


def test_the_short_headers_are_refused_past_their_limit_in_every_format_and_read_up_to_it():
    from flowengine.esl.event import Event
    from flowengine.esl.wire import MAX_SHORT_VALUE
    uuid = "%20" * 100                                  # 300 bytes as written
    event = Event.from_plain(plain_event([("Event-Name", "DTMF"), ("Unique-ID", "x")]).split(b"\n\n", 1)[1][:-1]
                             + b"\nUnique-ID: " + uuid.encode() + b"\nDTMF-Duration: " + b"1" * 5000 + b"\n")
    assert event.name == "DTMF" and event.unique_id == "x"        # the first one: short
    assert event.get_short("DTMF-Duration") is None               # a number that long is none
    pairs = [("Event-Name", "DTMF"), ("Unique-ID", "a" * (MAX_SHORT_VALUE + 1))]
    with pytest.raises(ProtocolError, match="Unique-ID header of an event holds 257 bytes"):
        Event("json", pairs=pairs).unique_id
    (long_name,) = Parser().feed(plain_event([("Event-Name", "A" * (MAX_SHORT_VALUE + 1))]))
    with pytest.raises(ProtocolError, match="Event-Name header"):
        long_name.name
    (at_limit,) = Parser().feed(plain_event([("Event-Name", "A" * MAX_SHORT_VALUE)]))
    assert at_limit.name == "A" * MAX_SHORT_VALUE and repr(long_name) == "<Event (too long) plain>"


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(st.tuples(st.sampled_from(["Event-Name", "Unique-ID", "Core-UUID", "Application-UUID",
                                                 "Job-UUID", "Channel-Unique-ID", "variable_x", "Unique-IDx"]),
                                st.sampled_from([": ", ":", ":  "]),
                                st.sampled_from([0, 1, 255, 256, 257, 258, 300]),   # MAX_SHORT_VALUE = 256
                                st.sampled_from(["a", "%20"])), max_size=6),
       crlf=st.booleans(), tail=st.sampled_from(["", "\n", "\n\nUnique-ID: " + "x" * 300]))
def test_a_kept_events_short_headers_are_checked_as_reading_each_would(lines, crlf, tail):
    """check_short's one search over a plain event fails it exactly when reading one of
    SHORT_HEADERS would: at the limit and past it, on the first line or another, a value
    after its header's first, with CRLF, and a long line past the header block."""
    from flowengine.esl.event import Event
    from flowengine.esl.wire import SHORT_HEADERS
    nl = "\r\n" if crlf else "\n"
    raw = (nl.join(name + sep + (unit * size)[:size] for name, sep, size, unit in lines) + tail).encode()

    def outcome(check) -> str:
        try:
            check(Event.from_plain(raw))
        except ProtocolError as exc:
            return str(exc)
        return "ok"

    assert outcome(Event.check_short) == outcome(lambda e: [e.get(n) for n in SHORT_HEADERS])


@pytest.mark.parametrize("unit", [b"a", b"\xc3\xbf", b"\xe2\x82", b"\xff"])
def test_a_kept_events_short_headers_are_measured_in_bytes_whatever_the_bytes_are(unit):
    """check_short's one search counts bytes, as reading the header does: a Unique-ID of
    257 bytes is refused whether they are ASCII, UTF-8 of fewer characters, or no UTF-8
    at all (a search that read UTF-8 would see fewer characters, or none, and let it
    through); 256 pass."""
    from flowengine.esl.event import Event
    for size in (256, 257):
        event = Event.from_plain(b"Event-Name: CHANNEL_EXECUTE_COMPLETE\nUnique-ID: " + (unit * size)[:size] + b"\n")
        if size == 256:
            event.check_short()
            continue
        with pytest.raises(ProtocolError, match="Unique-ID header of an event holds 257 bytes"):
            event.check_short()


# -- url-decoding: the same reading, with no step per escape ----------------------------------

@settings(max_examples=500, deadline=None)
@given(wire=st.text(alphabet="%%%%0123456789ABCDEFabcdef25= :\r\n\x00\x7f\u00e9\u20ac", max_size=40),
       chunk=st.integers(1, 9))
def test_url_decoding_reads_as_the_model_does_wherever_the_value_is_cut_into_chunks(wire, chunk):
    """The decoder works a MiB at a time; cut into chunks of a few bytes, every escape
    that straddles a cut, and the copied ``%25`` before two hex digits, read as the
    model of switch_url_encode reads them."""
    from flowengine.esl import urlcode
    whole = urlcode._CHUNK
    urlcode._CHUNK = chunk
    try:
        assert urlcode.decode(wire) == model.url_decode_strict(wire)
    finally:
        urlcode._CHUNK = whole


def test_url_decoding_takes_no_python_step_per_escape():
    """16 MiB of ``%20`` took 2.6 s of the loop, a Python callback per escape. Counted
    here as Python calls (not as time, which the machine's load would blur): a million
    escapes, a few dozen calls."""
    import sys

    from flowengine.esl.urlcode import decode_bytes
    calls = 0

    def count(frame, event, arg) -> None:
        nonlocal calls
        calls += event == "call"

    raw = b"%20%41%25%2541" * (1 << 18)             # decoded, kept, decoded, kept (copied)
    sys.setprofile(count)
    try:
        text = decode_bytes(raw)
    finally:
        sys.setprofile(None)
    assert text == " %41%%2541" * (1 << 18)
    assert calls < 100, calls
