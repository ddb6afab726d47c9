"""Connections that break: at every message boundary, mid-message, or with garbage."""

from __future__ import annotations

import gc
import os

import gevent
import pytest
from gevent import socket

from flowengine.errors import CallGone, ProtocolError
from flowengine.esl import Parser
from flowengine.session import OutboundSession, Timeouts

from .conftest import load
from .harness import run


def live_greenlets():
    """Greenlets spawned for calls (the Hub and gevent's resolver thread are process-wide)."""
    return sum(1 for o in gc.get_objects() if isinstance(o, gevent.Greenlet) and not o.dead)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def boundaries(name):
    data = load(name).inbound()
    parser, count, cuts = Parser(), 0, [0]
    for i in range(len(data)):
        count += len(parser.feed(data[i:i + 1]))
        if len(cuts) <= count:
            cuts.append(i + 1)
    return cuts[:-1], len(data)  # the last boundary is the normal end


def assert_ends_cleanly(outcome):
    assert isinstance(outcome.error, CallGone), outcome.error
    assert outcome.fake_error is None
    assert outcome.session._closed and outcome.session.proto.closed


@pytest.mark.parametrize("name", ["pagd_digit", "bridge_answered", "caller_hangup_no_linger"])
def test_cut_at_every_message_boundary(name):
    cuts, _ = boundaries(name)
    run(name)  # first use of gevent creates the hub's own fds and threads
    gc.collect()
    greenlets, fds = live_greenlets(), open_fds()
    for cut in cuts:
        outcome = run(name, cut_at=cut)
        assert_ends_cleanly(outcome)
        expected = "CONNECTION_LOST" if outcome.session.hangup_cause is None else outcome.session.hangup_cause
        assert outcome.error.cause == expected
    gc.collect()
    assert live_greenlets() == greenlets
    assert open_fds() == fds


def test_cut_in_the_middle_of_messages():
    _, total = boundaries("api_bgapi")
    for cut in range(1, total, 997):
        assert_ends_cleanly(run("api_bgapi", cut_at=cut))


@pytest.mark.parametrize("garbage", [
    b"Content-Type: api/response\nContent-Length: lots\n\n",
    b"Content-Type: api/response\nContent-Length: 999999999999\n\n",
    b"no colon and no end " * 80000,
    b"Content-Length: 8\nContent-Type: text/event-json\n\n{\"bad\":1",
])
def test_malformed_bytes_end_the_call_with_a_protocol_error(garbage):
    connect_reply = load("answer_playback_hangup").chunks("in")[0]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def freeswitch():
        sock = socket.create_connection(listener.getsockname())
        try:
            sock.recv(100)
            sock.sendall(connect_reply)
            sock.recv(100)
            sock.sendall(garbage)
            sock.recv(100)
        except OSError:
            pass
        finally:
            sock.close()

    fake = gevent.spawn(freeswitch)
    conn, _ = listener.accept()
    listener.close()
    session = OutboundSession(conn, timeouts=Timeouts(connect=2, reply=2, drain=0.5))
    with pytest.raises((ProtocolError, CallGone)) as caught:
        session.start()
        session.execute("answer")  # the JSON case breaks only when an event is read
    session.finish()
    fake.join(timeout=5)
    assert fake.dead and session._closed and session.proto.closed
    assert isinstance(caught.value, ProtocolError) or "protocol error" in str(caught.value)
