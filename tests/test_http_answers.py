"""An http step's JSON answer is read where the request is performed: the server's HTTP
worker process parses it and sends back only the values the step saves (and what
``${http_body}`` holds), so the call loop never parses a webhook's body. A real worker
process, a real HTTP server on loopback (gevent's, in this process), a real call on the
event loop (EventedCall) with FreeSWITCH's side scripted over a real socket; and the same
call with the in-process client, which must give the same."""

from __future__ import annotations

import json
import socket as stdsocket

import gevent
import gevent.event
import pytest
from gevent import socket

from flowengine.call.flow_call import FlowCall
from flowengine.flows import load_flows
from flowengine.http import HttpClient, HttpLimits, frames
from flowengine.server.evented import EventedCall
from flowengine.http.supervisor import HttpSupervisor
from flowengine.session import Timeouts
from flowengine.testing.scripted import ScriptedFreeSwitch

from .http_servers import serve
from .test_http_evented import freeswitch

FLOW = """\
name: crm
numbers: ["3000"]
start: lookup
steps:
  lookup:
    http:
      url: "http://127.0.0.1:%(port)d/%(path)s"
      timeout: 5s
      save: {tier: tier, name: items.2.name, count: count}
    on: {ok: vip, error: sorry}
  vip: {playback: vip.wav, next: bye}
  sorry: {playback: sorry.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""

MIB = 1024 * 1024


def webhook_answer() -> bytes:
    """Just under 1 MiB of JSON, nearly all of it nested lists (``[[[]],[[]],…]``), with
    the three values the flow saves ahead of it."""
    head = {"tier": "vip", "items": [{"name": "a"}, {"name": "b"}, {"name": "Zoë \U0001f600 ${x}"}], "count": 3}
    start = json.dumps(head)[:-1].encode() + b', "pad": ['
    filler = b"[[]],"
    pad = filler * ((MIB - 64 - len(start)) // len(filler))
    body = start + pad + b"[[]]]}"
    assert MIB - 64 <= len(body) <= MIB
    return body


BOMB = b"[" * 500_000 + b"]" * 500_000    # 1 MB, nested far past any parser's recursion limit


def answers(env):
    body = BOMB if env["PATH_INFO"] == "/bomb" else webhook_answer()
    return 200, [("Content-Type", "application/json")], body


class LargeParses:
    """Every JSON parse of 64 KiB or more made in this process (the server's loop), by
    whatever decoder: json.loads goes through JSONDecoder.decode too."""

    def __init__(self, monkeypatch) -> None:
        self.sizes: list[int] = []
        original = json.JSONDecoder.decode

        def decode(decoder, text, *args, **kwargs):
            if len(text) >= 65536:
                self.sizes.append(len(text))
            return original(decoder, text, *args, **kwargs)
        monkeypatch.setattr(json.JSONDecoder, "decode", decode)


def run_call(tmp_path, port: int, path: str, http) -> FlowCall:
    (tmp_path / "crm.yaml").write_text(FLOW % {"port": port, "path": path})
    flows = load_flows(tmp_path)
    fs = ScriptedFreeSwitch(destination="3000", caller="5551234")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    sent: list[bytes] = []
    peer = gevent.spawn(lambda: freeswitch(socket.create_connection(listener.getsockname()), fs, sent))
    conn, _ = listener.accept()
    listener.close()
    closed = gevent.event.Event()
    call = FlowCall(lambda: flows, Timeouts(connect=5, reply=5, execute=5, drain=1), run_options={"trace": True})
    EventedCall(gevent.get_hub().loop, stdsocket.socket(fileno=conn.detach()), call,
                on_close=lambda _: closed.set(), http=http)
    assert closed.wait(timeout=20), "the call never closed"
    peer.kill()
    return call


@pytest.fixture
def web():
    server, seen = serve(answers)
    yield server
    server.stop(timeout=0.1)


@pytest.fixture
def worker():
    performer = HttpSupervisor(HttpLimits())
    performer.start(gevent.get_hub().loop)
    yield performer
    performer.close()


def test_a_1_mib_webhook_answer_is_parsed_in_the_worker_and_only_the_saved_values_cross(
        tmp_path, web, worker, monkeypatch):
    parses = LargeParses(monkeypatch)
    crossed: list[int] = []      # the body of each answer frame the server read from the worker
    answer = frames.answer
    monkeypatch.setattr(frames, "answer", lambda header, body: (crossed.append(len(body)), answer(header, body))[1])
    call = run_call(tmp_path, web.server_port, "hook", worker)
    run = call.run
    assert run.outcomes[0] == ("lookup", "ok"), run.vars.get("http_error")
    assert (run.vars["tier"], run.vars["name"], run.vars["count"]) == ("vip", "Zoë \U0001f600 ${x}", "3")
    assert run.vars["name"].data                       # the call's data, as any response value
    assert len(run.vars["http_body"]) == 16 * 1024     # ${http_body}: the first 16 KiB, as ever
    assert parses.sizes == []     # the 1 MiB body was never parsed here, on the calls' loop
    saved_bytes = sum(len(run.vars[n].encode()) for n in ("tier", "name", "count"))
    assert crossed == [16 * 1024 + saved_bytes]   # ${http_body}'s 16 KiB and the three values, no more


def test_a_nesting_bomb_is_the_error_outcome_and_the_worker_serves_on(tmp_path, web, worker, monkeypatch):
    parses = LargeParses(monkeypatch)
    pid = worker.pid
    call = run_call(tmp_path, web.server_port, "bomb", worker)
    assert call.run.outcomes[0] == ("lookup", "error")
    assert "nested too deeply to read" in call.run.vars["http_error"]
    assert parses.sizes == []
    assert worker.pid == pid and worker.restarts == 0     # its RecursionError was handled there
    again = run_call(tmp_path, web.server_port, "hook", worker)
    assert again.run.outcomes[0] == ("lookup", "ok") and again.run.vars["tier"] == "vip"


@pytest.mark.parametrize("path", ["hook", "bomb"])
def test_the_in_process_client_gives_the_same_as_the_worker(tmp_path, web, worker, path):
    by_worker = run_call(tmp_path, web.server_port, path, worker).run
    in_process = run_call(tmp_path, web.server_port, path, HttpClient()).run
    names = ("tier", "name", "count", "http_status", "http_error", "http_body")
    assert [by_worker.vars.get(n) for n in names] == [in_process.vars.get(n) for n in names]
    assert by_worker.outcomes == in_process.outcomes
