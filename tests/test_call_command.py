"""``run.py call``: a test call against a running engine, both as real processes, with
FreeSWITCH's side played over TCP and the flow's HTTP request made to a real server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FLOW = """\
name: refill
numbers: ["3000"]
start: hello
steps:
  hello: {{answer: {{}}, next: language}}
  language:
    menu:
      prompt: ivr/choose-language.wav
      choices: {{"1": number, "2": number}}
      timeout: 3s
    on: {{exhausted: bye}}
  number:
    play_and_get_digits: {{prompt: ivr/enter-rx.wav, min: 7, max: 7, tries: 3, timeout: 5s}}
    on: {{digits: lookup, invalid: bye, timeout: bye}}
  lookup:
    http:
      url: "http://127.0.0.1:{port}/rx?number=${{digits}}&phone=${{caller_id_number}}"
      timeout: {timeout}
      save: {{status: status}}
    on: {{ok: ready, error: bye, timeout: bye}}
  ready: {{playback: "ivr/${{status}}.wav", next: bye}}
  bye: {{hangup: NORMAL_CLEARING}}
"""


class Pharmacy(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        Pharmacy.seen.append(self.path)
        body = json.dumps({"status": "refill-ready"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def pharmacy():
    web = ThreadingHTTPServer(("127.0.0.1", 0), Pharmacy)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    Pharmacy.seen = []
    yield web.server_address[1]
    web.shutdown()
    web.server_close()


def engine(server, tmp_path, port: int, timeout: str = "2s"):
    (tmp_path / "refill.yaml").write_text(FLOW.format(port=port, timeout=timeout))
    return server("--flows", str(tmp_path))


def call(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "call", *args], capture_output=True, text=True, timeout=timeout
    )


def test_a_test_call_plays_freeswitch_to_a_running_engine_and_prints_each_step(server, tmp_path, pharmacy):
    srv = engine(server, tmp_path, pharmacy)
    done = call("3000", "--server", f"127.0.0.1:{srv.port}", "--press", "1@2s,7654321@5s", "--caller", "5551234")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("call 5551234 -> 3000 at 127.0.0.1:") and "real HTTP requests" in lines[0]
    steps = lines[1:-1]
    # each application the engine ran, in order, with its outcome
    assert [line.split("  ->  ")[0].split("s  ", 1)[1] for line in steps] == [
        "answer",
        "play_and_get_digits 1 1 1 3000 # ivr/choose-language.wav silence_stream://250 menu_digits .* 3000",
        "play_and_get_digits 7 7 3 5000 # ivr/enter-rx.wav silence_stream://250 digits .* 5000",
        "playback ivr/refill-ready.wav",
        "hangup NORMAL_CLEARING",
    ]
    assert "pressed 1" in steps[1] and "menu_digits=1" in steps[1]
    assert "pressed 7654321" in steps[2] and "digits=7654321" in steps[2]
    assert steps[3].endswith("->  FILE PLAYED")
    assert lines[-1].startswith("end: the engine hung up the call (NORMAL_CLEARING); 4 application(s)")
    # the flow's HTTP request was real: the web service saw the caller's digits
    assert Pharmacy.seen == ["/rx?number=7654321&phone=5551234"]
    assert srv.stop() == 0


def test_what_did_not_go_as_scripted_is_said_and_is_not_exit_0(server, tmp_path, pharmacy):
    srv = engine(server, tmp_path, pharmacy)
    address = f"127.0.0.1:{srv.port}"
    unserved = call("3999", "--server", address)
    assert unserved.returncode == 1
    assert "not ended: no flow on the engine serves this number: it hung up with UNALLOCATED_NUMBER" in unserved.stdout
    # the number is pressed too late: the call is over by then, the press never used
    unused = call("3000", "--server", address, "--press", "1@2s,7654321@90s", "--timeout", "30")
    assert unused.returncode == 3, unused.stdout
    assert "->  read_result=failure" in unused.stdout.splitlines()[3]
    assert "--press 7654321@90s was never used" in unused.stdout
    assert Pharmacy.seen == []
    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        closed = call("3000", "--server", f"127.0.0.1:{free.getsockname()[1]}")
    assert closed.returncode == 2 and "error: cannot reach the engine at 127.0.0.1:" in closed.stdout
    for press in ("hello@2s", "1@soon"):
        wrong = call("3000", "--server", address, "--press", press)
        assert wrong.returncode == 2 and f"--press {press!r}" in wrong.stderr, wrong.stderr


def test_a_call_that_does_not_end_in_time_is_said_to_be_still_up(server, tmp_path):
    with socket.socket() as silent:  # takes the request's connection and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        srv = engine(server, tmp_path, silent.getsockname()[1], timeout="30s")
        done = call(
            "3000", "--server", f"127.0.0.1:{srv.port}", "--press", "1,7654321", "--timeout", "2"
        )
    assert done.returncode == 1, done.stdout
    assert done.stdout.splitlines()[-1].startswith("not ended: no end within 2 s (--timeout)")
