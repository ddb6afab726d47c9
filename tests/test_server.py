"""run.py as a real process, with a replayed FreeSWITCH connecting to it over TCP."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flowengine.esl import ApiResponse, Parser
from flowengine.replay.fake import ReplayFreeSwitch, ReplayMismatch
from flowengine.replay.peer import play

from .conftest import load

ROOT = Path(__file__).resolve().parent.parent
E2E = ROOT / "tests" / "flows" / "e2e"


def test_a_call_end_to_end(server):
    srv = server()
    replay = srv.call("answer_playback_hangup")
    assert replay.exhausted
    assert [c.describe() for c in replay.received if c.word == "sendmsg"] == [
        'answer ""', 'playback "ivr/welcome.wav"', 'hangup "NORMAL_CLEARING"']
    line = srv.wait_for("call end")
    assert "uuid=bb05c26f-fd4e-49f8-842c-a306cad233fa" in line
    assert "caller=5551234 destination=1000" in line and "cause=NORMAL_CLEARING" in line
    assert srv.stop() == 0


def test_one_bad_call_does_not_hurt_the_next(server):
    srv = server()
    bad = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    bad.recv(100)                                    # connect
    bad.sendall(load("pagd_digit").chunks("in")[0])  # a real connect reply
    setup = b""
    while not setup.endswith(b"\n\n") or b"nixevent" not in setup:  # myevents, linger, nixevent
        setup += bad.recv(4096)
    bad.sendall(b"Content-Type: command/reply\nContent-Length: -5\n\n")
    assert bad.recv(100) == b""                      # the server ended that call
    bad.close()
    srv.wait_for("ProtocolError")
    assert "6c75040f-629b-45ef-a87f-360422922966" in srv.wait_for("ended on malformed input")
    assert srv.call("answer_playback_hangup").exhausted
    assert srv.proc.poll() is None
    assert srv.stop() == 0


def test_a_reset_peer_ends_only_its_call(server):
    srv = server("--log-level", "debug")
    rude = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    rude.recv(100)
    rude.close()                                     # RST instead of a connect reply
    srv.wait_for("connection from 127.0.0.1 closed before sending anything")
    assert srv.call("answer_playback_hangup").exhausted
    assert srv.stop() == 0


def test_peer_outside_allow_is_closed_before_a_byte(server):
    srv = server("--allow", "192.0.2.0/24")
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    assert sock.recv(100) == b""                     # not even 'connect' was sent
    sock.close()
    srv.wait_for("refused 127.0.0.1")
    assert srv.stop() == 0


def test_peer_inside_allow_is_served(server):
    srv = server("--allow", "10.0.0.0/8", "--allow", "127.0.0.0/8")
    assert srv.call("answer_playback_hangup").exhausted
    assert srv.stop() == 0


def test_sigterm_lets_a_call_finish_and_refuses_new_ones(server):
    srv = server("--drain-seconds", "20")
    result = {}
    caller = threading.Thread(target=lambda: result.update(replay=srv.call("answer_playback_hangup", pace=1.0)))
    caller.start()
    srv.wait_for("step=answer outcome=done")          # the call is in its 1.5 s playback
    srv.proc.send_signal(signal.SIGTERM)
    srv.wait_for("stopped accepting")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).recv(1)
    caller.join(timeout=15)
    assert result["replay"].exhausted                # the call ran to its end
    assert srv.proc.wait(timeout=15) == 0
    assert any("call end" in line and "cause=NORMAL_CLEARING" in line for line in srv.lines)


def test_sigterm_hangs_up_calls_that_outlast_the_drain(server):
    srv = server("--drain-seconds", "0.3")
    replay = ReplayFreeSwitch(load("answer_playback_hangup"))   # a 1.5 s playback at pace 1
    errors = []

    def caller():
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        try:
            play(sock, replay, pace=1.0)
        except ReplayMismatch as exc:
            errors.append(exc)

    thread = threading.Thread(target=caller)
    thread.start()
    srv.wait_for("step=answer outcome=done")            # inside the playback
    srv.proc.send_signal(signal.SIGTERM)
    srv.wait_for("hanging up 1 call")
    thread.join(timeout=15)
    hangups = [c for c in replay.received if c.header("call-command") == "hangup"]
    assert [c.header("hangup-cause") for c in hangups] == ["SYSTEM_SHUTDOWN"]
    assert errors  # the recording never had that hangup: the replay says so
    assert srv.proc.wait(timeout=15) == 0


@pytest.mark.parametrize("name,steps", [
    ("answer_playback_hangup", ["answer outcome=done", "welcome outcome=played", "bye outcome=hangup"]),
    ("pagd_digit", ["ask outcome=digits", "goodbye outcome=played", "bye outcome=hangup"]),
    ("pagd_timeout", ["quick outcome=timeout", "bye outcome=hangup"]),
    ("pagd_invalid_then_valid", ["ask outcome=3", "bye outcome=hangup"]),
    ("caller_hangup_during_pagd", ["ask outcome=hangup:ORIGINATOR_CANCEL"]),
    ("dtmf_stops_playback", ["menu outcome=#", "bye outcome=hangup"]),
    ("playback_missing_file", ["missing outcome=not_found", "bye outcome=hangup"]),
])
def test_flows_replayed_end_to_end(server, name, steps):
    srv = server()
    replay = srv.call(name)
    assert replay.exhausted                                  # every recorded command, in order
    uuid = Parser().feed(load(name).chunks("in")[0])[0].channel.unique_id
    for step in steps:
        assert f"call={uuid} flow=" in srv.wait_for(f"step={step}")
    assert srv.stop() == 0


def test_a_number_no_flow_serves_is_hung_up_unallocated(server):
    srv = server()
    replay = ReplayFreeSwitch(load("bridge_busy"))            # destination 1007: no flow
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    with pytest.raises(ReplayMismatch):
        play(sock, replay)
    assert replay.received[-1].describe() == 'hangup "UNALLOCATED_NUMBER"'
    srv.wait_for("no flow serves it")
    assert srv.stop() == 0


def test_a_broken_flow_set_is_refused_at_start(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: bad\nstart: a\nsteps:\n  a:\n    playback: x.wav\n    next: b\n")
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--listen", "127.0.0.1:0",
                           "--flows", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert f"{tmp_path / 'bad.yaml'}:6:5: step 'a': next goes to 'b', which is not a step" in proc.stderr
    assert "listening" not in proc.stderr


def test_an_empty_flow_directory_is_refused_unless_asked(tmp_path, server):
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--listen", "127.0.0.1:0",
                           "--flows", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "no flow files in" in proc.stderr and "--allow-empty" in proc.stderr
    srv = server("--flows", str(tmp_path), "--allow-empty")
    srv.wait_for("listening")
    assert srv.stop() == 0


def test_listening_on_every_interface_without_allow_takes_loopback_only_and_says_so(server):
    # what a peer beyond loopback meets: tests/test_security.py
    srv = server("--listen", "0.0.0.0:0")
    line = srv.wait_for("protected mode")
    assert "WARNING" in line and "only peers on this machine (loopback)" in line and "--allow any" in line
    srv.wait_for("listening")
    assert srv.call("answer_playback_hangup").exhausted
    assert srv.stop() == 0


def test_check_prints_every_problem(tmp_path):
    (tmp_path / "a.yaml").write_text("name: a\nnumbers: ['1000-1099']\nstart: s\nsteps:\n  s: {hangup: NORMAL_CLEARING}\n")
    (tmp_path / "b.yaml").write_text("name: b\nstart: s\nsteps:\n  s: {plaback: x.wav}\n")
    (tmp_path / "c.yaml").write_text("name: c\nnumbers: ['2000', '1050']\nstart: s\nsteps:\n  s: {hangup: NORMAL_CLEARING}\n")
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--check", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert f"{tmp_path / 'b.yaml'}:4:7: step 's': 'plaback' is not a known key (did you mean 'playback'?)" in proc.stderr
    assert (f"{tmp_path / 'c.yaml'}:2:19: number '1050' is also claimed by '1000-1099' in "
            f"{tmp_path / 'a.yaml'}:2:11 (flow 'a')") in proc.stderr
    assert "2 error(s)" in proc.stderr
    ok = subprocess.run([sys.executable, str(ROOT / "run.py"), "--check", str(ROOT / "flows")],
                        cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "16 flow(s) ok" in ok.stdout


def test_record_writes_a_replayable_transcript(server, tmp_path):
    from flowengine.flows import load_flows
    from flowengine.replay import Transcript
    from flowengine.testing.cases import Case, run_case
    from flowengine.flows.source import Source

    srv = server("--record", str(tmp_path / "calls"))
    assert srv.call("pagd_digit").exhausted
    srv.wait_for("call end")
    assert srv.stop() == 0
    (path,) = list((tmp_path / "calls").glob("*/*.jsonl"))
    assert path.name == "6c75040f-629b-45ef-a87f-360422922966.jsonl"
    recorded = Transcript.load(path)
    assert recorded.description == "call 5551234 -> 1001"
    original = Parser().feed(load("pagd_digit").inbound())
    got = Parser().feed(recorded.inbound())
    asked = [m for m in got if isinstance(m, ApiResponse)]       # preflight's questions to the host
    assert asked and len(got) == len(original) + 2 + len(asked)   # and the replies to nixevent (set-up, hangup)
    assert [r.dir for r in recorded.records[:4]] == ["out", "in", "out", "in"]
    case = Case("recorded", {"name": "recorded", "replay": str(path), "strict": True,
                             "expect": {"vars": {"choice": "2"}, "result": "hangup"}},
                Source(tmp_path / "x.test.yaml", None), 0)
    result = run_case(case, load_flows(E2E))
    assert result.passed, result.problems


def test_recording_failures_never_break_calls(server, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    srv = server("--record", str(blocker))
    assert srv.call("answer_playback_hangup").exhausted
    assert srv.call("pagd_digit").exhausted
    srv.wait_for("calls go on unrecorded")
    assert srv.stop() == 0
    assert sum("calls go on unrecorded" in line for line in srv.lines) == 1
