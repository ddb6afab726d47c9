"""The flow-test tooling: scripted FreeSWITCH shapes, run.py test, coverage, the pytest plugin, simulate."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from flowengine.esl import Event, Parser
from flowengine.testing.memory import MemorySession
from flowengine.testing.scripted import ScriptedFreeSwitch

from .conftest import load

ROOT = Path(__file__).resolve().parent.parent


def run_py(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=60)


def recorded_complete(fixture: str, app: str) -> Event:
    return next(m for m in Parser().feed(load(fixture).inbound())
                if isinstance(m, Event) and m.name == "CHANNEL_EXECUTE_COMPLETE" and m.application == app)


def test_scripted_events_have_the_recorded_shape():
    fs = ScriptedFreeSwitch(destination="1000", caller="5551234", caller_name="Alice")
    session = MemorySession(fs)
    channel = session.start()
    done = session.execute("playback", "ivr/welcome.wav")
    real = recorded_complete("answer_playback_hangup", "playback")
    names = [k for k, _ in done.headers() if not k.startswith("variable_")]
    real_names = [k for k, _ in real.headers() if not k.startswith("variable_")]
    assert names == real_names                       # same headers, same order
    assert done.application_uuid and done.application_response == "FILE PLAYED"
    assert channel.get("Caller-Destination-Number") == "1000" == done.get("Caller-Destination-Number")
    assert channel.get("Channel-Destination-Number") == "1000"        # the connect reply's own block
    assert done.get("Caller-Caller-ID-Name") == "Alice" and done.unique_id == session.uuid


def test_scripted_play_and_get_digits_reports_like_freeswitch():
    arg = r"1 1 3 1000 # p.wav i.wav choice [1-3] 1000"
    cases = [([{"press": "9"}, {"press": "9"}, {"press": "9"}], {"choice_invalid": "9", "read_result": "success"}),
             ([], {"read_result": "failure"}),
             ([{"press": "9"}, {"press": "3"}], {"choice": "3", "choice_invalid": "9", "read_result": "success"})]
    for actions, expected in cases:                  # pagd_all_invalid, pagd_timeout, pagd_invalid_then_valid
        session = MemorySession(ScriptedFreeSwitch(destination="1", actions=actions))
        session.start()
        done = session.execute("play_and_get_digits", arg)
        got = {k: done.variable(k) for k in ("choice", "choice_invalid", "read_result") if done.variable(k)}
        assert got == expected


def test_scripted_bridge_failure_without_continue_on_fail_hangs_the_caller_up():
    from flowengine.errors import CallGone
    import pytest
    session = MemorySession(ScriptedFreeSwitch(destination="1", bridge={"user/1": "failed"}))
    session.start()
    with pytest.raises(CallGone) as gone:            # bridge_fail_hangs_up_caller
        session.execute("bridge", "user/1")
    assert gone.value.cause == "NO_ROUTE_DESTINATION"


def test_run_py_test_passes_on_the_shipped_flows_with_full_coverage():
    proc = run_py("test", "flows", "--coverage")
    assert proc.returncode == 0, proc.stdout
    assert "coverage: every step and outcome is reached" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].endswith(" passed, 0 failed")


def write_flow(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(textwrap.dedent("""
        name: f
        numbers: ["100"]
        start: ask
        steps:
          ask:
            menu: {prompt: m.wav, choices: {"1": one, "2": two}}
            on: {exhausted: bye}
          one: {playback: one.wav, next: bye}
          two: {playback: two.wav, next: bye}
          bye: {hangup: NORMAL_CLEARING}
        """))


def test_a_failing_case_and_missing_coverage_fail_the_run(tmp_path):
    write_flow(tmp_path)
    (tmp_path / "f.test.yaml").write_text(textwrap.dedent("""
        cases:
          - name: one
            call: {destination: "100"}
            caller: [{press: "1"}]
            expect: {steps: [ask, one, bye]}
          - name: wrong expectation
            call: {destination: "100"}
            caller: [{press: "2"}]
            expect: {steps: [ask, one, bye]}
        """))
    proc = run_py("test", str(tmp_path), "--coverage")
    assert proc.returncode == 1
    out = proc.stdout
    assert f"FAIL {tmp_path / 'f.test.yaml'}:7:5: wrong expectation" in out
    assert "steps: differ at #2: expected 'one', got 'two'" in out
    assert f"{tmp_path / 'f.yaml'}:8:10: step 'ask': outcome 'exhausted' is never taken" in out
    assert out.strip().splitlines()[-1] == "1 passed, 1 failed"


def test_pytest_collects_flow_cases_with_readable_failures(tmp_path):
    write_flow(tmp_path)
    (tmp_path / "f.test.yaml").write_text(textwrap.dedent("""
        cases:
          - name: silence three times
            call: {destination: "100"}
            expect: {outcomes: {ask: exhausted}}
          - name: replay against the wrong flow
            replay: %s
        """ % (ROOT / "tests/fixtures/esl/answer_playback_hangup.jsonl")))
    (tmp_path / "f.yaml").write_text((tmp_path / "f.yaml").read_text().replace('["100"]', '["100", "1000"]'))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path / "f.test.yaml")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "1 failed, 1 passed" in proc.stdout
    assert ("step 'ask' sent play_and_get_digits \"1 1 1 5000 # m.wav silence_stream://250 menu_digits .* 3000\" "
            "but the log's next command is answer \"\" (record 8)") in proc.stdout


def test_simulate_asks_how_a_queue_ends_and_says_what_the_caller_hears(tmp_path):
    import shutil
    for name in ("examples/queue.yaml", "leave_message.yaml", "examples/speak.yaml"):
        shutil.copy(ROOT / "flows" / name, tmp_path)
    proc = run_py("simulate", str(tmp_path / "queue.yaml"), "--number", "2011", stdin="no_agent\n")
    assert proc.returncode == 0, proc.stderr
    assert "[wait] waiting in queue: support@default" in proc.stdout and "  -> wait: no_agent" in proc.stdout
    assert "[closed] caller hears: ivr/ivr-no_agents_available.wav" in proc.stdout
    proc = run_py("simulate", str(tmp_path / "speak.yaml"), "--number", "2009", "--caller-name", "Ada", stdin="")
    assert "[hello] caller hears (speech): flite|slt|Hello Ada. Press star to skip the news." in proc.stdout


def test_simulate_over_a_pipe():
    proc = run_py("simulate", "flows/main.yaml", "--number", "1000", "--time", "2026-11-23T10:30:00+01:00",
                  stdin="2\nbusy\n1\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "[greeting] caller hears: ivr/ivr-welcome_to_freeswitch.wav" in out
    assert "  -> menu: 2" in out and "  -> support: busy" in out
    assert "  -> sorry: played" in out and "leave_message" in out
    assert out.strip().splitlines()[-1] == "end: hangup (NORMAL_CLEARING)"


def test_simulate_asks_again_rings_each_target_and_records_nothing_when_told():
    proc = run_py("simulate", "flows/main.yaml", "--number", "1000", "--time", "2026-11-23T10:30:00+01:00",
                  stdin="\n1\nbussy\nbusy\nno_answer\n0\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "? digits (attempt 1 of 3; Enter = no input)" in out and "? digits (attempt 2 of 3;" in out
    assert "! 'bussy' is not one of them (did you mean busy?)" in out        # asked again, not "answered"
    assert "? bridge to user/1101:" in out and "? bridge to user/1102:" in out
    assert "  -> sales: no_answer" in out                  # the last target's answer is the outcome
    assert "  -> record: empty" in out                      # 0 seconds spoken
    assert out.strip().splitlines()[-1] == "end: hangup (NORMAL_CLEARING)"


def test_simulate_routes_the_number_over_a_directory_and_refuses_a_bad_time():
    proc = run_py("simulate", "flows", "--number", "2004", "--caller", "1042")
    assert proc.returncode == 0, proc.stdout
    assert "flow example_decide" in proc.stdout.splitlines()[0]
    proc = run_py("simulate", "--number", "9999")
    assert proc.returncode == 1 and "no flow in flows serves '9999'" in proc.stdout
    proc = run_py("simulate", "flows/main.yaml", "--number", "2004", "--time", "tomorrow")
    assert proc.returncode == 2 and proc.stdout.strip() == ("--time 'tomorrow' is not an ISO 8601 moment "
                                                            "(e.g. 2026-11-23T10:30:00+01:00)")
    assert proc.stderr == ""
    proc = run_py("simulate", "flows/main.yaml", "--number", "2004", "--time", "2026-11-23T10:30:00+01:00",
                  stdin="1\nanswered\n")
    assert proc.returncode == 0, proc.stdout
    assert "note: on the server '2004' goes to flow example_decide" in proc.stdout
