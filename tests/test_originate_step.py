"""``GET /calls/<id>`` of a call in its flow says the step it runs (issue 27), on a real
server process: the call originated through a fake inbound FreeSWITCH comes back to the
server and is held in an ``http`` step by a loopback HTTP server that answers only when the
test lets it. A call whose connection came back to another process (another engine, or
another worker of the same one) is shown with ``step: null`` and why."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flowengine.server.calls_api import NOT_HERE, OTHER_WORKER

from .originate_freeswitch import OriginateFreeSwitch
from .processes import Server
from .test_operations import free_port
from .test_originate_server import KEY, TOKEN, request

WAITING = """\
name: survey
direction: outbound
start: lookup
steps:
  lookup:
    http: {{url: "http://127.0.0.1:{port}/hold", timeout: 25s}}
    on: {{ok: bye, failed: bye, timeout: bye, error: bye}}
  bye: {{hangup: NORMAL_CLEARING}}
"""


class Hold(BaseHTTPRequestHandler):
    """Answers once ``released`` is set (or after 20 s: a failed test leaves nothing held)."""

    released = threading.Event()
    asked = threading.Event()

    def do_GET(self):  # noqa: N802 (http.server's name)
        Hold.asked.set()
        Hold.released.wait(20)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def held(tmp_path):
    Hold.released.clear()
    Hold.asked.clear()
    web = ThreadingHTTPServer(("127.0.0.1", 0), Hold)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "survey.yaml").write_text(WAITING.format(port=web.server_address[1]))
    (tmp_path / "originate.key").write_bytes(KEY)
    (tmp_path / "api.token").write_text(TOKEN + "\n")
    yield tmp_path
    Hold.released.set()
    web.shutdown()


def api_server(files, fs: OriginateFreeSwitch, metrics: int, listen: int, engine: int, *more: str) -> Server:
    return Server(
        "--flows",
        str(files / "flows"),
        "--metrics",
        str(metrics),
        "--originate-key",
        str(files / "originate.key"),
        "--calls-api-token",
        str(files / "api.token"),
        "--originate-allow",
        "loopback/",
        "--originate-freeswitch",
        f"127.0.0.1:{fs.port}",
        "--originate-engine",
        f"127.0.0.1:{engine}",
        "--originate-rate",
        "50",
        "--listen",
        f"127.0.0.1:{listen}",
        *more,
    )


def answers(port: int) -> bool:
    try:
        return request(port, "GET", "/calls")[0] == 200
    except OSError:
        return False


def shown_when(fs: OriginateFreeSwitch, metrics: int, call_id: str, predicate) -> dict:
    seen: list[dict] = []

    def ready() -> bool:
        seen.append(request(metrics, "GET", f"/calls/{call_id}")[1])
        return predicate(seen[-1])

    fs.wait_for(ready)
    return seen[-1]


def test_a_call_in_its_flow_is_shown_at_the_step_it_runs(held):
    fs = OriginateFreeSwitch()
    listen, metrics = free_port(), free_port()
    server = api_server(held, fs, metrics, listen, listen)
    try:
        status, body = request(metrics, "POST", "/calls", {"to": "loopback/7001", "flow": "survey"})
        assert status == 202, body
        assert Hold.asked.wait(15), "the call never reached its http step"
        shown = shown_when(fs, metrics, body["id"], lambda b: b.get("state") == "in flow")
        assert shown["step"] == "lookup"
        assert shown["step_flow"] == "survey"
        assert "step_reason" not in shown
        Hold.released.set()
        done = shown_when(fs, metrics, body["id"], lambda b: b.get("state") == "done")
        assert "step" not in done and "step_flow" not in done  # a call that ended runs no step
    finally:
        assert server.stop() == 0
        fs.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_call_running_in_another_process_is_shown_without_a_step_and_why(held, workers):
    """The originated call comes back to a second engine (as, with ``--workers``, it may
    reach any worker): the API's process sees it in its flow from FreeSWITCH's events only."""
    fs = OriginateFreeSwitch()
    elsewhere = Server("--flows", str(held / "flows"), "--originate-key", str(held / "originate.key"))
    listen, metrics = free_port(), free_port()
    server = api_server(held, fs, metrics, listen, elsewhere.port, "--workers", str(workers))
    try:
        fs.wait_for(lambda: answers(metrics))  # with --workers: once worker 0 serves its port
        status, body = request(metrics, "POST", "/calls", {"to": "loopback/7001", "flow": "survey"})
        assert status == 202, body
        assert Hold.asked.wait(15), "the call never reached its http step"
        shown = shown_when(fs, metrics, body["id"], lambda b: b.get("state") == "in flow")
        assert shown["step"] is None
        assert shown["step_reason"] == (OTHER_WORKER if workers > 1 else NOT_HERE)
        assert "step_flow" not in shown
        Hold.released.set()
        shown_when(fs, metrics, body["id"], lambda b: b.get("state") == "done")
    finally:
        assert server.stop() == 0
        assert elsewhere.stop() == 0
        fs.close()


def test_the_server_finds_each_running_call_by_its_uuid_and_forgets_it_when_it_ends():
    """In one process, calls at once: each write of the engine's is answered only after the
    test has asked where the call is, so it is seen at each step it runs (its own, not
    another call's); once every call has ended, the server holds nothing for any of them."""
    from pathlib import Path

    import gevent
    from gevent import socket

    from flowengine.flows import load_flows
    from flowengine.server import CallServer
    from flowengine.session import Timeouts
    from flowengine.testing.scripted import ScriptedFreeSwitch

    flows = load_flows(Path(__file__).parent / "flows" / "limits")
    server = CallServer(("127.0.0.1", 0), flows=lambda: flows, timeouts=Timeouts(connect=60, reply=60, execute=60))
    server.start()
    calls = server.flow_calls

    def talk(fs: ScriptedFreeSwitch) -> list:
        seen = []
        with socket.create_connection(server.address) as sock:
            while data := sock.recv(65536):
                seen.append(calls.step_of(fs.uuid))
                for _, chunk in fs.receive(data):
                    sock.sendall(chunk)
        return seen

    try:
        peers = [ScriptedFreeSwitch(destination="2000") for _ in range(8)]
        talks = [gevent.spawn(talk, fs) for fs in peers]
        gevent.joinall(talks, timeout=60)
        for each in talks:
            seen = [where for where in each.value if where is not None]
            assert ("voicemail", "answer") in seen and ("voicemail", "record") in seen, each.value
            assert each.value[0] is None  # before connect is answered the server knows no UUID
        assert all(calls.step_of(fs.uuid) is None for fs in peers)
        assert not calls.calls and calls._by_uuid == {} and calls._unfiled == {}
    finally:
        server._server.close()
