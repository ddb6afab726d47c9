"""``run.py call``: a test call against a running engine, both as real processes, with
FreeSWITCH's side played over TCP and the flow's HTTP request made to a real server."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flowengine.esl import commands
from flowengine.testing.bounds import OutOfTime, Unplayable
from flowengine.testing.scripted import ScriptedFreeSwitch

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
        done = call("3000", "--server", f"127.0.0.1:{srv.port}", "--press", "1,7654321", "--timeout", "2")
    assert done.returncode == 1, done.stdout
    assert done.stdout.splitlines()[-1].startswith("not ended: no end within 2 s (--timeout)")


# -- what an engine sends the scripted FreeSWITCH: read as FreeSWITCH does, bounded ---------


def scripted(**variables: str) -> ScriptedFreeSwitch:
    fs = ScriptedFreeSwitch(destination="3000", variables=variables)
    fs.receive(b"connect\n\n")
    return fs


def answers(fs: ScriptedFreeSwitch, data: bytes) -> bytes:
    return b"".join(chunk for _, chunk in fs.receive(data))


def test_a_digit_collection_freeswitch_runs_no_try_of_completes_with_the_variables_left_as_they_were():
    """FreeSWITCH reads play_and_get_digits' numbers with atoi, tries as a uint32 counted
    down (mod_dptools.c, play_and_get_digits_function; switch_play_and_get_digits): "x 1"
    has no third word, so 0 tries, and nothing runs; with a regexp and a variable only
    ``<var>_invalid`` is cleared first. The completion comes alone, nothing else changes."""
    fs = scripted(read_result="success", v="12", v_invalid="99")
    out = answers(fs, commands.execute("play_and_get_digits", "x 1", event_uuid="k1"))
    assert out.startswith(b"Content-Type: command/reply\nReply-Text: +OK")
    assert b"Application-Response: _none_\nApplication-UUID: k1" in out
    out = answers(fs, commands.execute("play_and_get_digits", "1 1 0 5000 # a.wav s v \\d+ 10", event_uuid="k2"))
    assert b"Application-UUID: k2" in out
    assert "v_invalid" not in fs.vars and fs.vars["v"] == "12" and fs.vars["read_result"] == "success"


@pytest.mark.parametrize(
    "arg, said",
    [
        ("1 1 21 10 # a.wav s v .* 10", "with 21 tries"),  # more than a flow's step may ask
        ("1 1 -1 10 # a.wav s v .* 10", "with 4294967295 (atoi wraps '-1'"),  # a uint32 in FreeSWITCH
        ("x 1 1 10 # a.wav s v .* 10", "not plain numbers"),  # atoi reads 0, int() raises
        ("1 1 1 10 # a.wav s v " + "x" * 70000, "at most 65536"),
    ],
    ids=["21 tries", "tries -1", "words", "70 000 characters"],
)
def test_a_digit_collection_the_scripted_freeswitch_cannot_play_as_freeswitch_would_is_refused(arg, said):
    fs = scripted()
    with pytest.raises(Unplayable, match=re.escape(said)):
        fs.receive(commands.execute("play_and_get_digits", arg, event_uuid="k1"))


def test_what_a_command_would_make_freeswitch_store_as_long_arrays_is_refused_before_it_is_stored():
    """FreeSWITCH redraws an array header at each element it pushes (switch_event.c,
    switch_event_base_add_header): 300 000 elements cost minutes; the engine never sends
    ``ARRAY::`` (flowengine/esl/commands.py)."""
    fs = scripted()
    array = "ARRAY::" + "a|:" * 1500
    started = time.monotonic()
    with pytest.raises(Unplayable, match="1501 array elements"):
        fs.receive(f"sendmsg\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: {array}\n\n".encode())
    with pytest.raises(Unplayable, match="ARRAY:: value of 1501 elements"):
        fs.receive(commands.execute("set", "v=" + array, event_uuid="k1"))
    with pytest.raises(Unplayable, match="header lines run past 16384 bytes"):
        fs.receive(b"sendmsg\n" + b"a: b\n" * 40000 + b"\n")  # 200 KB of header lines
    assert time.monotonic() - started < 5


def test_the_channel_variables_every_event_carries_are_bounded():
    fs = scripted()
    value = "A" * 4000
    with pytest.raises(Unplayable, match="at most 2000 in 1048576 characters"):
        answers(fs, b"".join(f"api uuid_setvar {fs.uuid} v{i} {value}\n\n".encode() for i in range(300)))
    assert 1024 * 1024 - 4005 < fs.vars.chars <= 1024 * 1024
    held = fs.vars.chars
    answers(fs, f"api uuid_setvar {fs.uuid} v0\n\n".encode())  # unset: its characters are free again
    assert fs.vars.chars == held - len("v0") - 4000
    assert fs.vars.chars == sum(len(k) + len(v) for k, v in fs.vars.items())


def test_the_answers_to_one_write_are_bounded_and_the_deadline_holds_within_a_write():
    """Every event carries every variable: 200 applications in one write of an engine that
    set 1 MB of them would make 800 MB of events (and took a 2 MB write to 1.8 GB)."""
    fs = scripted()
    answers(fs, b"".join(f"api uuid_setvar {fs.uuid} v{i} {'A' * 4000}\n\n".encode() for i in range(250)))
    many = b"".join(commands.execute("answer", None, event_uuid=f"k{i}") for i in range(200))
    with pytest.raises(Unplayable, match="more than 67108864 bytes of replies and events"):
        fs.receive(many)
    fs.deadline = time.monotonic()
    with pytest.raises(OutOfTime):
        fs.receive(commands.execute("answer", None, event_uuid="late"))


def test_a_command_the_scripted_freeswitch_will_not_play_ends_run_py_call_with_a_line_saying_why():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "call", "100", "--server", f"127.0.0.1:{port}", "--timeout", "20"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"connect\n\n")
                arg = "1 1 1000000000000 10 # x.wav s v .* 10"
                conn.sendall(commands.execute("play_and_get_digits", arg, event_uuid="k0"))
                out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert out.splitlines()[-1].startswith(
        "not ended: stopped: play_and_get_digits with 3567587328 (atoi wraps '1000000000000' to a negative int) "
        "tries: FreeSWITCH asks that often"
    ), out
