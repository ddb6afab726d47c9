"""Flow calls on the event loop (EventedCall) over real loopback sockets, in this process."""

from __future__ import annotations

import gc
import os
import socket as stdsocket
import time
from pathlib import Path

import gevent
import pytest
from gevent import socket

from flowengine.call.flow_call import FlowCall
from flowengine.flows import load_flows
from flowengine.replay.fake import ReplayFreeSwitch
from flowengine.replay.peer import play
from flowengine.server import CallServer
from flowengine.server.evented import EventedCall
from flowengine.session import Timeouts

from .conftest import load
from .test_faults import boundaries

E2E = load_flows(Path(__file__).parent / "flows" / "e2e")
TIMEOUTS = Timeouts(connect=5, reply=5, execute=5, drain=2)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def evented_call(name, *, cut_at=None, timeouts=TIMEOUTS, pace=0.0):
    """One recorded call played over loopback to an EventedCall; (call, replay, closed)."""
    replay = ReplayFreeSwitch(load(name))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    fake = gevent.spawn(lambda: play(socket.create_connection(listener.getsockname()), replay,
                                     cut_at=cut_at, pace=pace, sleep=gevent.sleep))
    conn, _ = listener.accept()
    listener.close()
    raw = stdsocket.socket(fileno=conn.detach())
    closed = gevent.event.Event()
    evented = EventedCall(gevent.get_hub().loop, raw, FlowCall(lambda: E2E, timeouts, peer="127.0.0.1"),
                          on_close=lambda _: closed.set())
    assert closed.wait(timeout=15), "the call never closed"
    fake.join(timeout=10)
    assert fake.dead, "the fake FreeSWITCH is still running"
    return evented.call, replay, fake


@pytest.mark.parametrize("name", ["answer_playback_hangup", "pagd_digit", "caller_hangup_during_pagd",
                                  "dtmf_stops_playback"])
def test_recorded_calls_run_to_their_end(name):
    call, replay, fake = evented_call(name)
    assert replay.exhausted and fake.exception is None
    assert call.closed and call.outcome == "ok" and call.proto.finished


def test_cut_at_every_message_boundary_ends_the_call_and_leaks_nothing():
    cuts, _ = boundaries("pagd_digit")
    evented_call("pagd_digit")  # the hub's own descriptors exist before counting
    gc.collect()
    fds = open_fds()
    for cut in cuts:
        call, _, _ = evented_call("pagd_digit", cut_at=cut)
        # ended by the peer's close, or by us once CHANNEL_HANGUP told the cause
        assert call.closed and (call.proto.closed or call.proto.hangup_event), cut
    gc.collect()
    assert open_fds() == fds


def test_a_finished_call_is_freed_at_once_not_by_the_garbage_collector():
    gc.collect()
    gc.disable()
    try:
        call, _, _ = evented_call("caller_hangup_during_playback")
        del call
        left = [o for o in gc.get_objects() if isinstance(o, (EventedCall, FlowCall))]
        assert left == []
    finally:
        gc.enable()


def loopback():
    """(FreeSWITCH's end, the engine's end as a plain socket) of one loopback connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    peer = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    listener.close()
    return peer, stdsocket.socket(fileno=conn.detach())


def test_a_wait_with_no_answer_times_out_on_the_loop_timer():
    """The replay never answers a command it does not have: the engine's wait runs out."""
    peer, raw = loopback()
    closed = gevent.event.Event()
    started = time.monotonic()
    EventedCall(gevent.get_hub().loop, raw,
                FlowCall(lambda: E2E, Timeouts(connect=0.3, reply=0.3, execute=0.3, drain=0.3)),
                on_close=lambda _: closed.set())
    assert peer.recv(100) == b"connect\n\n"             # and then FreeSWITCH says nothing
    assert closed.wait(timeout=5)
    assert 0.25 < time.monotonic() - started < 2
    assert peer.recv(100) == b""                        # we closed it
    peer.close()


def test_a_write_the_kernel_cannot_take_at_once_is_finished_when_writable():
    """A tiny send buffer and a peer that reads late: nothing written is lost."""
    peer, raw = loopback()
    raw.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_SNDBUF, 4096)
    evented = EventedCall(gevent.get_hub().loop, raw, FlowCall(lambda: E2E, TIMEOUTS))
    big = b"x" * 2_000_000
    evented._write(big)
    assert evented.backlog and evented.writer is not None   # the kernel took only part
    got = bytearray()
    while len(got) < len(b"connect\n\n") + len(big):
        got += peer.recv(1 << 20)
    assert bytes(got) == b"connect\n\n" + big
    assert evented.backlog == b"" and evented.writer is None
    evented.close()
    peer.close()