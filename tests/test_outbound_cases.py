"""Flow test cases and ``run.py simulate`` started as outbound calls: the scripted channel is
the A-leg originate creates (outbound, answered, as originate_to_socket_session recorded it),
carrying a token signed with a key made for the run, and the engine routes it as it routes a
started call: by the token, its variables the flow's params, exactly as given."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowengine.call.flow_call import FlowCall
from flowengine.esl import Parser
from flowengine.flows import load_flows
from flowengine.runtime import call_token
from flowengine.session import Timeouts
from flowengine.testing.cases import BrokenCases, load_test_file, run_case
from flowengine.testing.memory import converse
from flowengine.testing.outbound import start_outbound
from flowengine.testing.scripted import ScriptedFreeSwitch

from .conftest import load

ROOT = Path(__file__).resolve().parent.parent

#: what originate's line and its {…} block would each change: blanks, ':', ',', quotes, ARRAY::
VALUES = {
    "appointment": "Monday 7 December, 10:00",
    "doctor": "Dr. O'Brien, 3rd floor \"east\" \\ {x} [y] <z> ^^:",
    "list": "ARRAY::a|:b",
}
REMINDER = """name: reminder
direction: outbound
params:
  appointment: {type: string, required: true}
  doctor: {type: string, default: "your doctor"}
  list: {type: string, default: ""}
start: hello
steps:
  hello:
    set: {seen_appointment: "${appointment}", seen_doctor: "${doctor}", seen_list: "${list}"}
    next: ask
  ask:
    play_and_get_digits: {min: 1, max: 1, tries: 2, timeout: 5s, prompt: ivr/press-1.wav, variable: answer, regexp: '1'}
    on: {timeout: bye, invalid: bye}
    next: confirmed
  confirmed: {set: {reminder_confirmed: "yes"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""
FRONT = """name: front
numbers: ["7001"]
start: hi
steps:
  hi: {playback: "front.wav", next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def case(**spec) -> dict:
    return {"name": "reminder", "caller": [{"press": "1", "at": "ask"}],
            "expect": {"steps": ["hello", "ask", "confirmed", "bye"], "result": "hangup"}} | spec


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "reminder.yaml").write_text(REMINDER)
    (tmp_path / "front.yaml").write_text(FRONT)
    return tmp_path


def write_cases(folder: Path, *cases: dict) -> Path:
    path = folder / "reminder.test.yaml"
    path.write_text(json.dumps({"cases": list(cases)}, indent=1))  # JSON is YAML: values exactly as meant
    return path


def run_py(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_a_case_started_as_an_outbound_call_runs_its_flow_with_its_values_exactly(folder):
    channel = {"seen_appointment": VALUES["appointment"], "seen_doctor": VALUES["doctor"]}
    expect = case()["expect"] | {"vars": VALUES, "channel": channel}
    path = write_cases(folder, case(outbound={"flow": "reminder", "vars": VALUES}, expect=expect))
    [result] = [run_case(c, load_flows(folder)) for c in load_test_file(path).cases]
    assert result.passed, result.problems
    # routed by the token (the flow has no number; the call dialled none), its values the params
    assert result.run.frames[0].flow.name == "reminder"
    assert {k: result.run.frames[0].vars[k] for k in VALUES} == VALUES
    done = run_py("test", str(path))
    assert done.returncode == 0 and "PASS" in done.stdout and "1 passed, 0 failed" in done.stdout, done.stdout


def test_the_scripted_channel_is_the_recorded_originated_call_and_receives_the_flows_result(folder):
    fs = ScriptedFreeSwitch(destination="7001", actions=[{"press": "1", "at": "ask"}])
    key = start_outbound(fs, "reminder", VALUES)
    call = FlowCall(lambda: load_flows(folder), Timeouts(connect=5, reply=5, execute=60, drain=1),
                    originate_key=key, run_options={"trace": True}, before=lambda run, _: fs.visited.update(run.visited))
    converse(call, fs)
    assert call.flow_name == "reminder" and call.run.visited == ["hello", "ask", "confirmed", "bye"]
    # the engine told the channel how the flow ended (api uuid_setvar: full control)
    assert fs.vars[call_token.RESULT_VARIABLE] == "hangup"
    recorded = Parser().feed(load("originate_to_socket_session").inbound())[0].channel  # the connect reply
    other = ScriptedFreeSwitch(destination="7001")
    assert start_outbound(other, "reminder", VALUES) != key  # a key for this call alone
    [(_, data)] = other.receive(b"connect\n\n")
    channel = Parser().feed(data)[0].channel
    for header in ("Call-Direction", "Channel-Direction", "Caller-Direction", "Presence-Call-Direction",
                   "Answer-State", "Channel-Call-State"):
        assert channel.get(header) == recorded.get(header), header
    for name in ("direction", "is_outbound", "endpoint_disposition"):
        assert channel.variable(name) == recorded.variable(name), name
    assert channel.get("Caller-Channel-Answered-Time") not in (None, "0")
    assert [v for k, v in channel.headers() if k == "variable_direction"] == ["outbound"]  # not twice


def test_without_the_key_the_same_channel_is_routed_by_its_number(folder):
    fs = ScriptedFreeSwitch(destination="7001")
    start_outbound(fs, "reminder", VALUES)
    call = FlowCall(lambda: load_flows(folder), Timeouts(connect=5, reply=5, execute=60, drain=1))
    converse(call, fs)
    assert call.flow_name == "front"  # the token is what routed the case above, nothing else


def test_a_case_naming_a_flow_callers_dial_is_an_error_of_the_case(folder):
    path = write_cases(folder, case(name="front", outbound={"flow": "front"}, expect={"result": "hangup"}),
                       case(name="nobody", outbound={"flow": "remindr", "vars": VALUES}),
                       case(name="short", outbound={"flow": "reminder", "vars": {"doctor": "x", "when": "y"}}))
    flows, cases = load_flows(folder), load_test_file(path).cases
    front, nobody, short = [run_case(c, flows) for c in cases]

    def at(i: int, *path: str) -> str:
        return cases[i].source.where(("cases", i, "outbound") + path)

    assert front.run is None and front.problems == [
        f"{at(0, 'flow')}: outbound: flow 'front' is inbound (no direction): originate may not start a flow "
        "callers dial; write direction: outbound in it (or both, if callers dial it too)"]
    assert nobody.problems == [f"{at(1, 'flow')}: outbound: no flow 'remindr' here (did you mean 'reminder'?); "
                               "flows originate may start: reminder"]
    assert short.problems == [f"{at(2, 'vars', 'when')}: outbound: flow 'reminder' has no parameter 'when'",
                              f"{at(2, 'vars')}: outbound: flow 'reminder' needs parameter 'appointment'"]
    assert len({at(0, "flow"), at(2, "vars", "when"), at(2, "vars")}) == 3  # each where it is written
    done = run_py("test", str(path))
    assert done.returncode == 1 and "0 passed, 3 failed" in done.stdout, done.stdout
    assert f"FAIL {cases[0].where}: front\n    {at(0, 'flow')}: outbound: flow 'front' is inbound" in done.stdout


@pytest.mark.parametrize("outbound,message", [
    ({"flow": "reminder", "var": {}}, "unknown outbound key 'var' (did you mean 'vars'?); known: flow, vars"),
    ({"vars": VALUES}, "outbound: flow: is the name of the flow the call runs"),
    ({"flow": "reminder", "vars": {"appointment": ["a"]}}, "outbound: variable appointment: a text or a number"),
    ({"flow": "reminder", "vars": {"appointment": "x" * 1025}}, "outbound: variable appointment: 1025 characters"),
    ({"flow": "reminder", "vars": {f"v{i}": "x" * 1000 for i in range(3)}}, "outbound: the variables make a token"),
    ("reminder", "outbound: is {flow: NAME, vars: {NAME: VALUE}}"),
])
def test_an_outbound_the_engine_could_not_start_is_refused_as_the_file_loads(folder, outbound, message):
    path = write_cases(folder, case(outbound=outbound))
    with pytest.raises(BrokenCases) as caught:
        load_test_file(path)
    [problem] = caught.value.problems
    assert f"case 'reminder': {message}" in problem and problem.startswith(f"{path}:"), problem


def test_an_outbound_case_is_a_scripted_call_never_a_replay(folder):
    path = write_cases(folder, {"name": "r", "replay": "x.jsonl", "outbound": {"flow": "reminder"}})
    with pytest.raises(BrokenCases) as caught:
        load_test_file(path)
    assert "a replay is the call as recorded; outbound: goes with a scripted call" in caught.value.problems[0]
    # with outbound, call: is optional and gives the moment, the caller, channel variables
    path = write_cases(folder, case(outbound={"flow": "reminder", "vars": VALUES},
                                    call={"time": "2026-12-07T09:00:00+01:00", "caller": "5550100"}))
    assert [c.name for c in load_test_file(path).cases] == ["reminder"]


def test_simulate_starts_the_call_as_originate_would(folder):
    args = ["simulate", str(folder), "--flow", "reminder"] + [f"--var={k}={v}" for k, v in VALUES.items()]
    done = run_py(*args, stdin="1\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "call started for flow reminder" in done.stdout and "outbound, answered" in done.stdout
    assert f"[hello] set seen_appointment={VALUES['appointment']}" in done.stdout
    # (the set command as sent: the engine writes each value for where it lands)
    assert "[hello] set seen_doctor=Dr. O'Brien, 3rd floor \"east\" " in done.stdout
    assert " {x} [y] <z> ^^:\n" in done.stdout and "[hello] set seen_list=" in done.stdout
    assert "-> confirmed: done" in done.stdout and "end: hangup (NORMAL_CLEARING)" in done.stdout


def test_simulate_refuses_what_originate_refuses(folder):
    done = run_py("simulate", str(folder), "--flow", "front")
    assert done.returncode == 1 and done.stdout.startswith(
        "--flow front: flow 'front' is inbound (no direction): originate may not start a flow callers dial"), done.stdout
    done = run_py("simulate", str(folder), "--flow", "reminder", "--var", "when=x")
    assert done.returncode == 1 and "--flow reminder: flow 'reminder' has no parameter 'when'" in done.stdout
    done = run_py("simulate", str(folder), "--var", "appointment=x")
    assert done.returncode == 2 and "--var goes with --flow NAME" in done.stderr
    done = run_py("simulate", str(folder), "--flow", "reminder", "--var", "no equals sign")
    assert done.returncode == 2 and "--var wants NAME=VALUE" in done.stderr
    done = run_py("simulate", str(folder))
    assert done.returncode == 2 and "give --number (a caller dials it) or --flow NAME" in done.stderr
