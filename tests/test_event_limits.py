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

from flowengine.errors import ProtocolError
from flowengine.esl import Limits, Parser
from flowengine.esl.serialize import plain_event
from flowengine.flows import load_flows
from flowengine.server import CallServer
from flowengine.session import Timeouts
from flowengine.testing.scripted import ScriptedFreeSwitch

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

    def _app_answer(self, arg: str, key: str) -> bytes:
        return inflate(self.events("answer", arg, key))


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
