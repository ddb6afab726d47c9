"""Failover: a call survives the death of its host, resumed on the next one from the
checkpoint on its channel. Two real run.py processes on loopback; FreeSWITCH's side
follows the dialplan of docs/operations.md:

    <action application="socket" data="HOST1 async full"/>
    <action application="socket" data="HOST2 async full"/>
    <action application="respond" data="503"/>

When a socket closes with the call up, the next ``socket`` connects to the next host with
the channel as it is (its variables: the checkpoint among them)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

from flowengine.runtime import checkpoint
from flowengine.replay.command_reader import CommandReader
from flowengine.testing.scripted import ScriptedFreeSwitch

from .test_operations import get, metric

FLOW = """\
name: failover
numbers: ["4000"]
start: hello
vars: {{greeting: hello.wav}}
steps:
  hello: {{answer: {{}}, next: remember}}
  remember: {{vars: {{account: "${{caller_id_number}}"}}, next: main}}
  main:
    menu:
      prompt: main.wav
      reprompt: again.wav
      invalid: invalid.wav
      attempts: 3
      choices: {{"1": {one}, "2": sub, "3": agent}}
    on: {{exhausted: bye}}
  one: {{playback: "one-${{account}}.wav", next: bye}}
  sub: {{call: {{flow: helper, with: {{who: "${{account}}"}}}}, next: after}}
  after: {{playback: "after-${{account}}.wav", next: bye}}
  agent: {{bridge: "user/1001", on: {{answered: survey, busy: sorry, failed: sorry}}}}
  survey: {{playback: "survey-${{bridge_disposition}}.wav", next: bye}}
  sorry: {{playback: sorry.wav, next: bye}}
  bye: {{hangup: NORMAL_CLEARING}}
  {extra}
"""

HELPER = """\
name: helper
params: {who: {}}
start: ask
steps:
  ask: {playback: "helper-${who}.wav", next: wait}
  wait: {playback: "helper-wait.wav", next: done}
  done: {return: ok}
"""


class Dialplan(threading.Thread):
    """FreeSWITCH running one call through the dialplan's sockets in turn. ``hold`` =
    (text, n): the n-th command that mentions ``text`` is left unanswered until that host's
    socket closes (``held`` is set meanwhile); FreeSWITCH then runs it with nobody
    listening (what was queued runs: socket_function) and goes on to the next ``socket``."""

    def __init__(self, ports: list[int], hold: tuple[str, int] | None = None, pace: float = 0.0,
                 **scripted) -> None:
        super().__init__(daemon=True)
        self.ports = ports
        self.hold = hold
        self.pace = pace   # seconds each write's answer takes (the applications' time)
        self.fs = ScriptedFreeSwitch(destination="4000", **scripted)
        self.held = threading.Event()
        self.hosts: list[list[str]] = []   # the commands each connection carried
        self.responded_503 = False
        self.error: BaseException | None = None
        self._seen = 0
        self.start()

    def run(self) -> None:
        try:
            for n, port in enumerate(self.ports):
                if n:
                    self.fs.reconnect()
                try:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
                except OSError:
                    continue   # that host is down: the socket application fails at once
                self.hosts.append([])
                with sock:
                    self._serve(sock)
                if self.fs.gone:
                    return
            self.responded_503 = True
        except BaseException as exc:   # reported by result()
            self.error = exc

    def _serve(self, sock: socket.socket) -> None:
        reader = CommandReader()
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                return
            held = False
            for command in reader.feed(data):
                self.hosts[-1].append(command.describe())
                if self.hold and self.hold[0] in command.describe():
                    self._seen += 1
                    held = held or self._seen == self.hold[1]
            answers = self.fs.receive(data)
            if held:
                self.held.set()
                while True:   # until that host goes away; what it would hear is lost
                    try:
                        if not sock.recv(65536):
                            return
                    except OSError:
                        return
            if self.pace:
                time.sleep(self.pace)
            for _, chunk in answers:
                try:
                    sock.sendall(chunk)
                except OSError:
                    return

    def result(self, timeout: float = 20.0) -> list[list[str]]:
        self.join(timeout)
        assert not self.is_alive(), "the call never ended"
        assert self.error is None, self.error
        return self.hosts


def played(commands: list[str]) -> list[str]:
    return [c.split(" ", 1)[1].strip('"') for c in commands if c.startswith("playback ")]


def menus(commands: list[str]) -> list[str]:
    return [c.split(" ")[6] for c in commands if c.startswith("play_and_get_digits ")]


def write_flows(path, one: str = "one", extra: str = "") -> None:
    (path / "ivr.yaml").write_text(FLOW.format(one=one, extra=extra))
    (path / "helper.yaml").write_text(HELPER)


def test_sigkill_mid_menu_the_call_finishes_on_the_next_host_with_its_attempts_and_variables(server, tmp_path):
    write_flows(tmp_path)
    first = server("--flows", str(tmp_path), "--failover")
    second = server("--flows", str(tmp_path), "--failover", "--metrics", "127.0.0.1:0")
    # one wrong key, then the second attempt is running when the first host dies
    call = Dialplan([first.port, second.port], hold=("play_and_get_digits", 2), caller="5551234",
                    actions=[{"press": "9"}, {"press": "9"}, {"press": "1"}])
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)
    hosts = call.result()
    assert len(hosts) == 2 and not call.responded_503
    before, after = hosts
    # the wrong key's notice opens the second attempt's prompt
    assert menus(before) == ["main.wav", "file_string://invalid.wav!again.wav"] and played(before) == []
    # the checkpoint went out with the commands, never a command of its own
    assert not any(c.startswith("set ") and checkpoint.VARIABLE in c for c in before)
    assert not any(c.startswith("answer") for c in after)         # resumed, not started again
    assert menus(after) == ["file_string://invalid.wav!again.wav"]   # the menu's second attempt again
    assert played(after) == ["one-5551234.wav"]                      # the flow's variable, intact
    assert call.fs.gone
    line = second.wait_for("resumed from its checkpoint")
    assert "step=main" in line and "'used': 1" in line
    port = int(second.wait_for("metrics on").rsplit(":", 1)[1].split("/")[0])
    _, text = get(f"http://127.0.0.1:{port}/metrics")
    assert metric(text, 'flowengine_calls_resumed_total{flow="failover"}') == 1


def test_sigkill_in_a_called_flow_resumes_in_it_and_returns_to_its_caller(server, tmp_path):
    write_flows(tmp_path)
    first = server("--flows", str(tmp_path), "--failover")
    second = server("--flows", str(tmp_path), "--failover")
    call = Dialplan([first.port, second.port], hold=('playback "helper-wait.wav"', 1), caller="777",
                    actions=[{"press": "2"}])
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)
    before, after = call.result()
    assert played(before) == ["helper-777.wav", "helper-wait.wav"]
    assert played(after) == ["helper-wait.wav", "after-777.wav"]     # the sub-flow's step, then the caller's
    assert "step=helper/wait" in second.wait_for("resumed from its checkpoint")


def test_sigkill_mid_bridge_leaves_the_bridged_call_alone_and_the_flow_goes_on_after_it(server, tmp_path):
    write_flows(tmp_path)
    first = server("--flows", str(tmp_path), "--failover")
    second = server("--flows", str(tmp_path), "--failover")
    call = Dialplan([first.port, second.port], hold=('bridge "', 1), actions=[{"press": "3"}],
                    bridge={"user/1001": "busy"})
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)     # the bridge runs on: FreeSWITCH's, not ours
    before, after = call.result()
    assert [c for c in before if c.startswith("bridge ")] == ['bridge "user/1001"']
    assert not any(c.startswith("bridge ") for c in after)          # not dialled again
    assert played(after) == ["sorry.wav"]                             # its outcome (busy), read from the channel
    assert "after its bridge" in second.wait_for("resumed from its checkpoint")


def test_sigkill_of_a_worker_under_load_loses_no_call(server, tmp_path):
    """Two workers share the port, a third host is the dialplan's second socket; 60 calls
    (each ~1 s: a wrong key, then the right one) are up when worker 0 is killed."""
    from .test_operations import free_port
    write_flows(tmp_path)
    port = free_port()
    workers = server("--flows", str(tmp_path), "--listen", f"127.0.0.1:{port}", "--workers", "2", "--failover",
                     "--drain-seconds", "1")
    workers.wait_for("w0 flowengine.server listening")
    workers.wait_for("w1 flowengine.server listening")
    backup = server("--flows", str(tmp_path), "--failover")
    # no spare key: one pressed while the dying host's menu ran is that attempt's, read from
    # the channel by the next host (a lost one would leave the menu asking into silence)
    calls = [Dialplan([port, backup.port], pace=0.08, caller=str(1000 + n),
                      actions=[{"press": "9"}, {"press": "1"}]) for n in range(60)]
    try:
        time.sleep(0.5)
        pid = int(workers.wait_for("worker 0 started").rsplit("pid ", 1)[1].rstrip(")"))
        os.kill(pid, signal.SIGKILL)
        finished = 0
        for n, call in enumerate(calls):
            hosts = call.result(30)
            assert call.fs.gone and not call.responded_503, hosts
            heard = [p for host in hosts for p in played(host)]
            assert heard[-1] == f"one-{1000 + n}.wav", hosts   # each call's own variables
            finished += 1
        resumed = sum("resumed from its checkpoint" in line for line in workers.lines + backup.lines)
        assert finished == 60 and resumed > 0, resumed
        print(f"60 calls, worker 0 killed: {finished} finished, {resumed} resumed elsewhere")
    finally:
        assert workers.stop() == 0    # the workers with it (a killed supervisor would leave them)


def test_with_a_key_hosts_sharing_it_resume_and_one_without_it_starts_the_call_afresh(server, tmp_path):
    write_flows(tmp_path)
    (tmp_path / "key").write_text("k" * 32)
    (tmp_path / "other").write_text("o" * 32)
    signed = ("--failover-key", str(tmp_path / "key"))
    first = server("--flows", str(tmp_path), "--failover", *signed)
    second = server("--flows", str(tmp_path), "--failover", *signed)
    call = Dialplan([first.port, second.port], hold=("play_and_get_digits", 2),
                    actions=[{"press": "9"}, {"press": "9"}, {"press": "1"}])
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)
    _, after = call.result()
    assert menus(after) == ["file_string://invalid.wav!again.wav"]   # the second attempt, its notice first
    third = server("--flows", str(tmp_path), "--failover", "--failover-key", str(tmp_path / "other"))
    call = Dialplan([second.port, third.port], hold=("play_and_get_digits", 2),
                    actions=[{"press": "9"}, {"press": "9"}, {"press": "1"}])
    assert call.held.wait(10)
    second.proc.send_signal(signal.SIGKILL)
    _, after = call.result()
    assert menus(after) == ["main.wav"] and any(c.startswith("answer") for c in after)   # from its start
    assert "signature: not signed with --failover-key for this call" in third.wait_for("checkpoint not resumed")


def test_a_failover_key_too_short_is_refused_at_start(tmp_path):
    import subprocess
    import sys
    from .processes import ROOT
    write_flows(tmp_path)
    (tmp_path / "key").write_text("short")
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--flows", str(tmp_path), "--failover",
                           "--failover-key", str(tmp_path / "key"), "--listen", "127.0.0.1:0"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "holds 5 bytes; give at least 16" in proc.stderr


def test_a_reload_that_removed_the_step_takes_on_error_and_one_that_kept_it_resumes(server, tmp_path):
    flows = tmp_path / "a"
    changed = tmp_path / "b"
    flows.mkdir(), changed.mkdir()
    write_flows(flows)
    # the next host serves another version: step `one` goes to `thanks`, main is still there
    write_flows(changed, one="thanks", extra="thanks: {playback: thanks.wav, next: bye}")
    first = server("--flows", str(flows), "--failover")
    second = server("--flows", str(changed), "--failover")
    call = Dialplan([first.port, second.port], hold=("play_and_get_digits", 2),
                    actions=[{"press": "9"}, {"press": "9"}, {"press": "1"}])
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)
    _, after = call.result()
    assert menus(after) == ["file_string://invalid.wav!again.wav"] and played(after) == ["thanks.wav"]
    assert "resumed on" in second.wait_for("checkpoint of flow set")


def test_a_checkpoint_whose_step_is_gone_goes_to_on_error(server, tmp_path):
    flows, changed = tmp_path / "a", tmp_path / "b"
    flows.mkdir(), changed.mkdir()
    write_flows(flows)
    (changed / "ivr.yaml").write_text(
        'name: failover\nnumbers: ["4000"]\nstart: hello\non_error: sorry\nsteps:\n'
        '  hello: {answer: {}, next: bye}\n  sorry: {playback: sorry.wav, next: bye}\n'
        '  bye: {hangup: NORMAL_CLEARING}\n')
    first = server("--flows", str(flows), "--failover")
    second = server("--flows", str(changed), "--failover", "--metrics", "127.0.0.1:0")
    call = Dialplan([first.port, second.port], hold=("play_and_get_digits", 1))
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)
    _, after = call.result()
    assert played(after) == ["sorry.wav"]
    assert "checkpoint not resumed (step: step failover/main is not in the flow set)" in \
        second.wait_for("checkpoint not resumed")
    port = int(second.wait_for("metrics on").rsplit(":", 1)[1].split("/")[0])
    _, text = get(f"http://127.0.0.1:{port}/metrics")
    assert metric(text, 'flowengine_resumptions_refused_total{reason="step"}') == 1


def test_sigterm_with_failover_hands_running_calls_to_the_next_host(server, tmp_path):
    write_flows(tmp_path)
    first = server("--flows", str(tmp_path), "--failover", "--drain-seconds", "0.5")
    second = server("--flows", str(tmp_path), "--failover")
    call = Dialplan([first.port, second.port], hold=("play_and_get_digits", 1),
                    actions=[{"press": "9"}, {"press": "1"}])
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGTERM)
    before, after = call.result()
    assert first.proc.wait(10) == 0
    first.wait_for("handed 1 call(s) over to the next host")
    assert not any("hangup" in c for c in before)                  # not hung up: handed over
    # the wrong key pressed while the handed-over menu ran is that attempt's, read from the
    # channel: the next host goes on with the second attempt, its notice first
    assert menus(after) == ["file_string://invalid.wav!again.wav"] and played(after) == ["one-5551234.wav"]


def test_without_failover_no_checkpoint_is_written_and_sigterm_hangs_up(server, tmp_path):
    write_flows(tmp_path)
    first = server("--flows", str(tmp_path), "--drain-seconds", "0.3")
    call = Dialplan([first.port], hold=("play_and_get_digits", 1), actions=[{"press": "1"}])
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGTERM)
    first.proc.wait(10)
    (before,) = call.result()
    assert not any(checkpoint.VARIABLE in c for c in before)
    assert checkpoint.VARIABLE not in call.fs.vars


# -- the checkpoint itself: what a forged or damaged one can do --------------------------------

import json  # noqa: E402

import pytest  # noqa: E402

from flowengine.flows import load_flows  # noqa: E402
from flowengine.runtime.interpreter import FlowRun  # noqa: E402
from flowengine.quoting.opaque import opaque, unopaque  # noqa: E402


@pytest.fixture
def flowset(tmp_path):
    write_flows(tmp_path)
    return load_flows(str(tmp_path))


def forged(state: dict, version: int = 1) -> str:
    return f"{version}." + opaque(json.dumps(state).encode())


def test_the_value_has_no_character_freeswitch_expands_whatever_the_variables_hold(flowset):
    run = FlowRun(flowset.flows["failover"], flows=flowset)
    run.start()
    run.vars["account"] = "${system(rm -rf /)}'\\{x}|, \n\u00e9"
    text = checkpoint.capture(run, flowset.digest)
    assert set(text) <= set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.")
    restored = checkpoint.restore(text, flowset, flowset.flows["failover"])
    assert restored.frames[-1].vars["account"] == run.vars["account"]
    assert json.loads(unopaque(text[2:], 4096))["f"][0][1] == "hello"


def test_a_restored_value_is_call_data_to_the_encoders(flowset):
    text = forged({"d": flowset.digest, "f": [["failover", "one", {"account": "${system(id)}"}]]})
    run = checkpoint.restore(text, flowset, flowset.flows["failover"])
    command = run.start_saved()
    # '$' from the call is no part of a file name: the step is refused before a byte is sent
    # (this flow has no on_error: the call ends), as it would be for the caller's own input
    assert (command.app, command.arg) == ("hangup", "NORMAL_TEMPORARY_FAILURE")
    assert "${system" not in " ".join(str(arg) for _, arg in run.executed)


def test_a_signed_checkpoint_is_taken_only_for_the_call_it_was_written_for(flowset):
    run = FlowRun(flowset.flows["failover"], flows=flowset, uuid="call-a")
    run.start()
    text = checkpoint.capture(run, flowset.digest, key=b"k" * 32)
    flow = flowset.flows["failover"]
    assert checkpoint.restore(text, flowset, flow, key=b"k" * 32, uuid="call-a").frames[0].step == "hello"
    for key, uuid in ((b"k" * 32, "call-b"), (b"o" * 32, "call-a")):
        with pytest.raises(checkpoint.NotResumable) as caught:
            checkpoint.restore(text, flowset, flow, key=key, uuid=uuid)
        assert caught.value.reason is checkpoint.Refused.SIGNATURE
    unsigned = checkpoint.capture(run, flowset.digest)
    with pytest.raises(checkpoint.NotResumable):
        checkpoint.restore(unsigned, flowset, flow, key=b"k" * 32, uuid="call-a")


def test_a_value_the_flow_itself_sets_is_the_authors_again_on_resume(tmp_path):
    # an absolute path is the author's to write: from the call it is refused
    (tmp_path / "ivr.yaml").write_text(
        'name: p\nnumbers: ["4000"]\nstart: pick\nsteps:\n'
        '  pick: {vars: {prompt: "/srv/prompts/sales.wav"}, next: play}\n'
        '  play: {playback: "${prompt}", next: bye}\n  bye: {hangup: NORMAL_CLEARING}\n')
    flows = load_flows(str(tmp_path))
    flow = flows.flows["p"]
    for value, sent in (("/srv/prompts/sales.wav", "/srv/prompts/sales.wav"), ("/srv/prompts/other.wav", None)):
        text = forged({"d": flows.digest, "f": [["p", "play", {"prompt": value}]]})
        command = checkpoint.restore(text, flows, flow).start_saved()
        if sent is None:   # not a value the flow sets: the caller's, which may not make a path absolute
            assert command.app == "hangup"
        else:
            assert (command.app, command.arg) == ("playback", sent)


@pytest.mark.parametrize("text, reason", [
    ("2.abc", checkpoint.Refused.VERSION),
    ("1.!!!", checkpoint.Refused.MALFORMED),
    ("1." + "A" * 5000, checkpoint.Refused.MALFORMED),
    ("no version", checkpoint.Refused.MALFORMED),
    (forged({"f": [["helper", "ask", {}]]}), checkpoint.Refused.FLOW),        # not this number's flow
    (forged({"f": [["failover", "gone", {}]]}), checkpoint.Refused.STEP),
    (forged({"f": [["failover", "sub", {}]]}), checkpoint.Refused.STEP),      # a call step with no callee frame
    (forged({"f": [["failover", "main", {}], ["helper", "ask", {}]]}), checkpoint.Refused.STEP),  # main calls no one
    (forged({"f": [["failover", "main", {"x": {"nested": 1}}]]}), checkpoint.Refused.MALFORMED),
    (forged({"f": [["failover", "main", {}, [], {"used": -1}]]}), checkpoint.Refused.MALFORMED),
    (forged({"f": [["failover", "main", {}]] * 17}), checkpoint.Refused.MALFORMED),
    (forged({"f": [["failover", "main", {}]], "s": "bridge"}), checkpoint.Refused.MALFORMED),  # a menu runs no bridge
])
def test_a_checkpoint_is_taken_only_for_flows_and_steps_the_set_serves(flowset, text, reason):
    with pytest.raises(checkpoint.NotResumable) as caught:
        checkpoint.restore(text, flowset, flowset.flows["failover"])
    assert caught.value.reason is reason


def test_a_menu_resumes_on_its_next_attempt_and_clamps_what_the_checkpoint_claims(flowset):
    text = forged({"d": flowset.digest, "f": [["failover", "main", {}, [], {"used": 999, "tries": 999}]]})
    run = checkpoint.restore(text, flowset, flowset.flows["failover"], trace=True)
    command = run.start_saved()
    assert command.app == "play_and_get_digits" and "again.wav" in command.arg
    assert command.note == "attempt 3 of 3"     # the last one, never past it


def test_a_state_too_big_for_the_variable_is_not_resumable(flowset):
    run = FlowRun(flowset.flows["failover"], flows=flowset)
    run.start()
    run.vars["account"] = "x" * checkpoint.MAX_CHARS
    assert checkpoint.capture(run, flowset.digest) is None


# -- what marks a call as not to be resumed --------------------------------------------------

def _converse(tmp_path, flow: str, **scripted):
    from flowengine.call.flow_call import FlowCall
    from flowengine.session import Timeouts
    from flowengine.testing.memory import converse
    (tmp_path / "ivr.yaml").write_text(flow)
    flows = load_flows(str(tmp_path))
    fs = ScriptedFreeSwitch(destination="4000", **scripted)
    sent: list[bytes] = []

    class Tap:
        def receive(self, data):
            sent.append(data)
            return fs.receive(data)

    call = FlowCall(lambda: flows, Timeouts(connect=5, reply=5, execute=60, drain=1), failover=True)
    converse(call, Tap())
    return fs, b"".join(sent).decode()


def test_a_transferred_call_clears_its_checkpoint_with_the_transfer(tmp_path):
    fs, wire = _converse(tmp_path, 'name: t\nnumbers: ["4000"]\nstart: hello\nsteps:\n'
                                   '  hello: {playback: hello.wav, next: away}\n'
                                   '  away: {transfer: "5000 XML default"}\n')
    assert f"api uuid_setvar {fs.uuid} {checkpoint.VARIABLE} 1." in wire       # kept while it ran
    cleared = wire.index(f"api uuid_setvar {fs.uuid} {checkpoint.VARIABLE}\n\n")
    assert cleared < wire.index("execute-app-name: transfer")                  # in the transfer's write, ahead
    assert checkpoint.VARIABLE not in fs.vars     # the next extension's socket starts a new call


def test_a_call_the_flow_hangs_up_writes_nothing_with_its_hangup(tmp_path):
    fs, wire = _converse(tmp_path, 'name: t\nnumbers: ["4000"]\nstart: hello\nsteps:\n'
                                   '  hello: {playback: hello.wav, next: bye}\n  bye: {hangup: NORMAL_CLEARING}\n')
    before_hangup = wire[:wire.index("call-command: hangup")]
    assert wire.count("uuid_setvar") == before_hangup.count("uuid_setvar") == 1


def test_a_checkpoint_too_big_is_cleared_and_said_once(tmp_path, caplog):
    big = "x" * 1000
    fs, wire = _converse(tmp_path, 'name: t\nnumbers: ["4000"]\nstart: hello\nsteps:\n'
                                   '  hello: {playback: hello.wav, next: grow}\n'
                                   f'  grow: {{vars: {{a: "{big}", b: "{big}"}}, next: again}}\n'
                                   '  again: {playback: again.wav, next: more}\n'
                                   '  more: {playback: more.wav, next: bye}\n  bye: {hangup: NORMAL_CLEARING}\n')
    assert checkpoint.VARIABLE not in fs.vars
    assert sum("not resumable: its checkpoint is over" in r.getMessage() for r in caplog.records) == 1


def test_the_calls_language_is_resumed_with_it(tmp_path):
    (tmp_path / "ivr.yaml").write_text(
        'name: l\nnumbers: ["4000"]\nlanguages:\n  de: {sound_prefix: /sounds/de, say: de, tts: {engine: flite, voice: awb}}\n'
        'start: pick\nsteps:\n  pick: {language: de, next: hello}\n  hello: {say: {text: 5}, next: words}\n'
        '  words: {speak: "Hallo", next: bye}\n  bye: {hangup: NORMAL_CLEARING}\n')
    flows = load_flows(str(tmp_path))
    run = FlowRun(flows.flows["l"], flows=flows)
    command = run.start()
    while command.app != "say":                      # past the language step
        command = run.resume(None)
    text = checkpoint.capture(run, flows.digest, command.app)
    resumed = checkpoint.restore(text, flows, flows.flows["l"]).start_saved()
    assert (resumed.app, resumed.arg) == ("say", "de number pronounced 5")   # the language's say, not the default


# -- the recording a checkpoint names ------------------------------------------------------------

RECORDING = """\
name: rec
numbers: ["4000"]
start: rec
steps:
  rec: {record_call: {file: "${recordings_dir}/${caller_id_number}.wav"}, next: talk}
  talk: {playback: hello.wav, next: stop}
  stop: {record_call: {stop: true}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def test_sigkill_while_recording_the_next_host_stops_the_recording_the_first_started(server, tmp_path):
    (tmp_path / "rec.yaml").write_text(RECORDING)
    first = server("--flows", str(tmp_path), "--failover")
    second = server("--flows", str(tmp_path), "--failover")
    call = Dialplan([first.port, second.port], hold=('playback "hello.wav"', 1), caller="5551234")
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)
    before, after = call.result()
    started = [c for c in before if c.startswith("record_session ")]
    assert started == ['record_session "${recordings_dir}/5551234.wav"']
    # the path restored from the checkpoint is the one this flow's record_call step makes
    # for this call: sent as that step sends it (FreeSWITCH expands ${recordings_dir})
    assert [c for c in after if c.startswith("stop_record_session ")] == \
        ['stop_record_session "${recordings_dir}/5551234.wav"']
    assert call.fs.recordings == {}       # stopped, not left running to the hangup


@pytest.mark.parametrize("forged_file", ["all", " ALL", "/var/lib/freeswitch/recordings/other.wav",
                                         "${recordings_dir}/999.wav", "${system(id)}", "../../etc/x.wav",
                                         "x +5"])
def test_a_forged_recording_in_a_checkpoint_is_checked_as_a_file_name_from_the_call(server, tmp_path, forged_file):
    """With no --failover-key anyone who can set a channel variable writes the checkpoint:
    its file may not stop every recording of the call (``all``: the dialplan's too), name
    a path outside the flow's, or carry FreeSWITCH syntax; the stop is refused (no on_error
    here: the call ends) and stop_record_session never goes out."""
    (tmp_path / "rec.yaml").write_text(RECORDING)
    flows = load_flows(str(tmp_path))
    host = server("--flows", str(tmp_path), "--failover")
    text = forged({"d": flows.digest, "f": [["rec", "stop", {}]], "r": forged_file})
    call = Dialplan([host.port], caller="5551234", variables={checkpoint.VARIABLE: text})
    (commands,) = call.result()
    assert not any(c.startswith("stop_record_session") for c in commands), commands
    assert any(c.startswith("hangup") for c in commands)
    assert "restored from the failover checkpoint" in host.wait_for("record_call stop")


def test_a_restored_recording_is_the_flows_own_only_when_the_flow_makes_it_now(tmp_path):
    from .test_quoting_flows import channel
    (tmp_path / "rec.yaml").write_text(RECORDING)
    flows = load_flows(str(tmp_path))
    flow = flows.flows["rec"]
    for file, sent in (("${recordings_dir}/5551234.wav", "${recordings_dir}/5551234.wav"),   # the flow's own
                       ("kept.wav", "kept.wav"),          # a file name, as the call could give one
                       ("${recordings_dir}/999.wav", None), ("all", None)):
        text = forged({"d": flows.digest, "f": [["rec", "stop", {}]], "r": file})
        run = checkpoint.restore(text, flows, flow, channel=channel(number=b"5551234"))
        command = run.start_saved()
        if sent is None:
            assert (command.app, command.arg) == ("hangup", "NORMAL_TEMPORARY_FAILURE"), file
        else:
            assert (command.app, command.arg) == ("stop_record_session", sent)


def test_what_a_log_line_quotes_of_a_forged_checkpoint_is_one_field(flowset, caplog):
    text = forged({"d": "x step=forged", "f": [["failover", "main", {}]]})
    caplog.set_level("INFO", logger="flowengine.flow")
    checkpoint.restore(text, flowset, flowset.flows["failover"])
    assert 'checkpoint of flow set "x step=forged" resumed' in caplog.text
    with pytest.raises(checkpoint.NotResumable) as caught:
        checkpoint.restore(forged({"f": [["failover", "x call=forged", {}]]}), flowset, flowset.flows["failover"])
    assert 'step failover/"x call=forged" is not in the flow set' in str(caught.value)
