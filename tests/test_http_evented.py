"""The http step on the event loop (EventedCall), with the real client against a real HTTP
server on loopback and a scripted FreeSWITCH over a real socket."""

from __future__ import annotations

import socket as stdsocket
import time

import gevent
import gevent.event
from gevent import socket

from flowengine.call.flow_call import FlowCall
from flowengine.flows import load_flows
from flowengine.http import HttpClient
from flowengine.server.evented import EventedCall
from flowengine.session import Timeouts
from flowengine.testing.scripted import ScriptedFreeSwitch

from .http_servers import serve

FLOW = """\
name: crm
numbers: ["3000"]
start: answer
steps:
  answer:
    answer: {}
    next: lookup
  lookup:
    http:
      url: "http://127.0.0.1:%(port)d/customers?phone=${caller_id_number}"
      timeout: %(timeout)s
      save: {tier: tier}
      while_waiting: {after: 100ms, play: ivr/please-hold.wav}
    on: {ok: routed, timeout: sorry, error: sorry}
  routed:
    when:
      - if: {var: tier, equals: vip}
        goto: vip
    else: sorry
  vip:
    playback: ivr/vip.wav
    next: bye
  sorry:
    playback: ivr/sorry.wav
    next: bye
  bye:
    hangup: NORMAL_CLEARING
"""


def freeswitch(sock, fs: ScriptedFreeSwitch, sent: list[bytes], hang_up_after: float | None = None) -> None:
    """Play ``fs`` over ``sock``: every write answered as the scripted FreeSWITCH does."""
    if hang_up_after is not None:
        def later():
            gevent.sleep(hang_up_after)
            sock.sendall(fs.hang_up("NORMAL_CLEARING"))
        gevent.spawn(later)
    while True:
        data = sock.recv(65536)
        if not data:
            return
        sent.append(data)
        for _, chunk in fs.receive(data):
            sock.sendall(chunk)


def run_call(tmp_path, port: int, *, timeout: str = "2s", hold_for: float | None = None,
             hang_up_after: float | None = None):
    (tmp_path / "crm.yaml").write_text(FLOW % {"port": port, "timeout": timeout})
    flows = load_flows(tmp_path)
    fs = ScriptedFreeSwitch(destination="3000", caller="5551234", prompt_seconds=30)
    fs.http_due_in = hold_for     # a prompt longer than this plays until uuid_break
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    sent: list[bytes] = []
    peer = gevent.spawn(lambda: freeswitch(socket.create_connection(listener.getsockname()), fs, sent,
                                           hang_up_after))
    conn, _ = listener.accept()
    listener.close()
    closed = gevent.event.Event()
    started = time.monotonic()
    call = FlowCall(lambda: flows, Timeouts(connect=5, reply=5, execute=5, drain=1),
                    run_options={"trace": True})
    evented = EventedCall(gevent.get_hub().loop, stdsocket.socket(fileno=conn.detach()), call,
                          on_close=lambda _: closed.set(), http=HttpClient())
    assert closed.wait(timeout=15), "the call never closed"
    took = time.monotonic() - started
    peer.kill()
    return evented, b"".join(sent), took


def test_a_lookup_over_real_http_routes_the_call(tmp_path):
    server, seen = serve(lambda env: (200, [("Content-Type", "application/json")], b'{"tier": "vip"}'))
    try:
        evented, wire, _ = run_call(tmp_path, server.server_port)
    finally:
        server.stop()
    run = evented.call.run
    assert seen.requests[0][:2] == ("GET", "/customers?phone=5551234")
    assert [s for s, _ in run.outcomes] == ["answer", "lookup", "routed", "vip", "bye"]
    assert b"ivr/please-hold.wav" not in wire      # it answered before `after`
    assert evented._request is None


def test_a_slow_answer_plays_the_hold_prompt_and_breaks_it(tmp_path):
    def handler(env):
        gevent.sleep(0.5)
        return 200, [("Content-Type", "application/json")], b'{"tier": "vip"}'
    server, _ = serve(handler)
    try:
        evented, wire, took = run_call(tmp_path, server.server_port, hold_for=0.4)
    finally:
        server.stop()
    run = evented.call.run
    assert wire.index(b"ivr/please-hold.wav") < wire.index(b"api uuid_break ") < wire.index(b"ivr/vip.wav")
    assert run.outcomes[1] == ("lookup", "ok") and took < 3


def test_a_hangup_during_the_request_ends_the_call_at_once(tmp_path):
    server, seen = serve(lambda env: (gevent.sleep(3), (200, [], b'{"tier": "vip"}'))[1])
    try:
        evented, wire, took = run_call(tmp_path, server.server_port, timeout="5s", hold_for=10,
                                       hang_up_after=0.3)
    finally:
        server.stop(timeout=0.1)
    run = evented.call.run
    assert took < 2.5                      # not the server's 3 s
    assert run.outcomes[-1][0] == "lookup" and run.outcomes[-1][1].startswith("hangup:")
    assert "tier" not in run.vars and evented._request is None
    assert b"ivr/vip.wav" not in wire and b"ivr/sorry.wav" not in wire


def test_a_timeout_takes_the_timeout_outcome(tmp_path):
    server, _ = serve(lambda env: (gevent.sleep(2), (200, [], b"{}"))[1])
    try:
        evented, _, took = run_call(tmp_path, server.server_port, timeout="300ms", hold_for=10)
    finally:
        server.stop(timeout=0.1)
    assert evented.call.run.outcomes[1] == ("lookup", "timeout") and took < 2
