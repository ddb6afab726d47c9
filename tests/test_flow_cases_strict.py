"""Flow test cases that cannot pass by mistake: every word of a case must meet the call."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flowengine.errors import FlowError
from flowengine.testing.cases import run_test_file

FLOW = """\
name: clinic
numbers: ["100"]
start: welcome
on_error: sorry
calendars:
  office: {timezone: Europe/Madrid, hours: {mon-fri: "08:00-18:00"}}
steps:
  welcome: {answer: {}, next: hours}
  hours:
    when: [{if: {open: office}, goto: menu}]
    else: closed
  menu:
    menu: {prompt: ivr/menu.wav, choices: {"1": sales, "2": language}, attempts: 2}
    on: {exhausted: bye}
  language:
    playback: ivr/language.wav
    next: bye
  sales:
    bridge: [user/1101, user/1102]
    on: {answered: bye, busy: sorry, no_answer: sorry, failed: sorry}
  closed: {playback: ivr/closed.wav, next: bye}
  sorry: {playback: ivr/sorry.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""
OPEN = '"2026-11-23T10:30:00+01:00"'


def results(tmp_path: Path, cases: str):
    (tmp_path / "clinic.yaml").write_text(FLOW)
    (tmp_path / "clinic.test.yaml").write_text("cases:\n" + textwrap.indent(textwrap.dedent(cases), "  "))
    return run_test_file(tmp_path / "clinic.test.yaml")


def only_problem(tmp_path: Path, case: str) -> str:
    [result] = results(tmp_path, case)
    assert len(result.problems) == 1, result.problems
    return result.problems[0]


def test_a_press_at_a_step_no_flow_has_is_an_error_of_the_case_with_its_place(tmp_path):
    problem = only_problem(tmp_path, f"""
        - name: chooses a language
          call: {{destination: "100", time: {OPEN}}}
          caller: [{{press: "2", at: languag}}]
          expect: {{result: hangup}}
        """)
    assert problem == (f"{tmp_path / 'clinic.test.yaml'}:5:27: at: 'languag' is not a step of flow 'clinic' "
                       "(did you mean 'language'?)")


def test_a_press_at_a_step_the_call_never_reaches_is_an_error(tmp_path):
    problem = only_problem(tmp_path, f"""
        - name: after hours, presses 1 in the menu
          call: {{destination: "100", time: "2026-11-23T22:00:00+01:00"}}
          caller: [{{press: "1", at: menu}}]
          expect: {{steps: [welcome, hours, closed, bye]}}
        """)
    assert problem == (f"{tmp_path / 'clinic.test.yaml'}:5:14: caller: press '1' was never used: "
                       "the call never reached 'menu'")


def test_a_bridge_answer_for_a_target_the_flow_never_dials_is_an_error(tmp_path):
    problem = only_problem(tmp_path, f"""
        - name: sales busy
          call: {{destination: "100", time: {OPEN}}}
          caller: [{{press: "1"}}]
          bridge: {{user/1101: busy, user/1103: busy}}
          expect: {{outcomes: {{sales: answered}}}}
        """)
    assert problem.endswith("bridge: user/1103 is never dialled (the flow dialled user/1101, user/1102)")


def test_a_result_that_is_not_how_a_call_ends_is_refused_when_the_file_loads(tmp_path):
    with pytest.raises(FlowError) as error:
        results(tmp_path, f"""
            - name: hangs up
              call: {{destination: "100", time: {OPEN}}}
              expect: {{result: hungup}}
            """)
    assert str(error.value) == (f"{tmp_path / 'clinic.test.yaml'}:5:14: case 'hangs up': result 'hungup' is not "
                                "how a call ends; results are hangup, transfer, gone, ended, error, unrouted "
                                "(did you mean 'hangup'?)")


def test_a_calendar_flow_without_a_time_is_an_error_and_one_without_calendars_is_not(tmp_path):
    problem = only_problem(tmp_path, """
        - name: forgot the time
          call: {destination: "100"}
          expect: {result: hangup}
        """)
    assert problem.startswith(f"{tmp_path / 'clinic.test.yaml'}:4:5: step 'hours' looks at the time, but the "
                              "case gives no call: time:")
    (tmp_path / "other").mkdir()
    flat = FLOW.replace("goto: menu}]", "goto: menu}]\n    else: menu").replace("if: {open: office}",
                                                                              "if: {caller: \"999\"}")
    flat = flat.replace("    else: menu\n    else: closed\n", "    else: menu\n")
    (tmp_path / "other" / "clinic.yaml").write_text(flat)
    (tmp_path / "other" / "clinic.test.yaml").write_text(textwrap.dedent("""
        cases:
          - name: no calendar, no time needed
            call: {destination: "100"}
            expect: {includes: {steps: [hours, menu]}}
        """))
    [result] = run_test_file(tmp_path / "other" / "clinic.test.yaml")
    assert result.problems == []


def test_includes_and_never(tmp_path):
    case = f"""
        - name: sales answers
          call: {{destination: "100", time: {OPEN}}}
          caller: [{{press: "1"}}]
          expect:
            includes: {{steps: [menu, sales, bye], executed: [answer, bridge, hangup]}}
            never: {{steps: [sorry], executed: [playback ivr/sorry.wav]}}
        """
    [ok] = results(tmp_path, case)
    assert ok.problems == []
    [wrong] = results(tmp_path, case.replace("[menu, sales, bye]", "[sales, menu]")
                      .replace("[sorry]", "[welcome]").replace("playback ivr/sorry.wav", "bridge"))
    assert wrong.problems == ["includes: steps: 'menu' never happened after 'sales'\n"
                              "  got: welcome -> hours -> menu -> sales -> bye",
                              "never: steps: 'welcome' happened",
                              "never: executed: 'bridge user/1101|user/1102' happened"]


def test_a_branch_outcome_is_its_name_as_the_readme_says(tmp_path):
    [result] = results(tmp_path, f"""
        - name: open
          call: {{destination: "100", time: {OPEN}}}
          caller: [{{press: "2"}}]
          expect: {{outcomes: {{hours: "when[0]", menu: "2"}}}}
        """)
    assert result.problems == []


def test_fail_at_a_step_runs_on_error_so_it_can_be_covered(tmp_path):
    [result] = results(tmp_path, f"""
        - name: the prompt cannot be played
          call: {{destination: "100", time: {OPEN}}}
          caller: [{{press: "2"}}]
          fail: {{at: language}}
          expect: {{steps: [welcome, hours, menu, language, sorry, bye], result: hangup}}
        """)
    assert result.problems == []
    problem = only_problem(tmp_path, f"""
        - name: never gets there
          call: {{destination: "100", time: {OPEN}}}
          caller: [{{press: "1"}}]
          fail: {{at: language}}
          expect: {{result: hangup}}
        """)
    assert problem.endswith("fail: the call never reached 'language'")


def test_pytest_reports_flow_coverage_when_asked(tmp_path):
    (tmp_path / "clinic.yaml").write_text(FLOW)
    (tmp_path / "clinic.test.yaml").write_text(textwrap.dedent(f"""
        cases:
          - name: open, sales answers
            call: {{destination: "100", time: {OPEN}}}
            caller: [{{press: "1"}}]
            expect: {{outcomes: {{sales: answered}}}}
        """))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--flow-coverage",
                           str(tmp_path / "clinic.test.yaml")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1, proc.stdout
    assert "1 passed" in proc.stdout
    assert f"{tmp_path / 'clinic.yaml'}:15:3: step 'language' is never reached" in proc.stdout
    plain = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                            str(tmp_path / "clinic.test.yaml")], cwd=tmp_path, capture_output=True, text=True,
                           timeout=60)
    assert plain.returncode == 0 and "never reached" not in plain.stdout


def test_the_documented_case_runs_green_against_the_shipped_flows(tmp_path):
    root = Path(__file__).resolve().parent.parent
    page = (root / "docs" / "testing-flows.md").read_text(encoding="utf-8")
    start = page.index("## A scripted case")
    block = page[page.index("```yaml\n", start) + 8:page.index("```\n", page.index("```yaml\n", start) + 8)]
    (tmp_path / "docs.test.yaml").write_text(f"flows: {root / 'flows'}\n" + block)
    [result] = run_test_file(tmp_path / "docs.test.yaml")
    assert result.problems == []
    assert result.run.visited[-1] == "leave_message/thanks"


def test_a_call_time_that_is_no_moment_is_refused_when_the_file_loads(tmp_path):
    with pytest.raises(FlowError) as error:
        results(tmp_path, """
            - name: tomorrow
              call: {destination: "100", time: tomorrow}
              expect: {result: hangup}
            """)
    assert "case 'tomorrow': time 'tomorrow' is not an ISO 8601 moment" in str(error.value)


def test_a_queue_answer_for_a_queue_the_flow_never_enters_is_an_error(tmp_path):
    problem = only_problem(tmp_path, f"""
        - name: support queue times out
          call: {{destination: "100", time: {OPEN}}}
          caller: [{{press: "1"}}]
          queue: {{support@default: timeout}}
          expect: {{result: hangup}}
        """)
    assert problem.endswith("queue: support@default is never entered (the flow entered none)")


@pytest.mark.parametrize("extra,message", [
    ("record_ms: lots", "record_ms: is a number from 0 to 14400000, not 'lots'"),
    ("bridge: [user/1101]", "bridge: is a mapping"),
    ("missing: 5", "missing: is a list"),
])
def test_a_case_of_the_wrong_shape_is_a_clear_error_not_a_traceback(tmp_path, extra, message):
    with pytest.raises(FlowError) as error:
        results(tmp_path, f"""
            - name: shapes
              call: {{destination: "100", time: {OPEN}}}
              {extra}
              expect: {{result: hangup}}
            """)
    assert message in str(error.value)


def test_a_case_without_expectations_is_refused(tmp_path):
    with pytest.raises(FlowError, match="a case needs expect:"):
        results(tmp_path, f"""
            - name: nothing said
              call: {{destination: "100", time: {OPEN}}}
            """)


# -- every step a case names is a step of its call's flow -----------------------------------------
LOBBY = """\
name: lobby
numbers: ["200"]
start: lobby_hello
steps:
  lobby_hello: {answer: {}, next: lobby_bye}
  lobby_bye: {hangup: NORMAL_CLEARING}
"""


def test_a_step_the_case_names_that_its_flow_lacks_is_an_error_with_the_likely_one(tmp_path):
    (tmp_path / "lobby.yaml").write_text(LOBBY)       # another flow of the directory: not this call's
    where = f"{tmp_path / 'clinic.test.yaml'}"
    [result] = results(tmp_path, f"""
        - name: typos that would pass
          call: {{destination: "100", time: {OPEN}}}
          caller: [{{press: "1"}}]
          expect:
            never: {{steps: [sallse, lobby_hello]}}
            includes: {{steps: [menu, byee]}}
            steps: [welcome, hours, menu, sales, "bey*"]
            outcomes: {{sale: answered}}
        """)
    assert result.problems == [
        f"{where}:9:44: steps: 'bey*' is not a step of flow 'clinic'",       # a * that stands for no step
        f"{where}:8:32: includes: steps: 'byee' is not a step of flow 'clinic' (did you mean 'bye'?)",
        f"{where}:7:23: never: steps: 'sallse' is not a step of flow 'clinic' (did you mean 'sales'?)",
        f"{where}:7:31: never: steps: 'lobby_hello' is not a step of flow 'clinic'",
        f"{where}:10:18: outcomes: 'sale' is not a step of flow 'clinic' (did you mean 'sales'?)",
    ]
    [fixed] = results(tmp_path, f"""
        - name: the same, spelt right
          call: {{destination: "100", time: {OPEN}}}
          caller: [{{press: "1"}}]
          expect:
            never: {{steps: [sorry, closed]}}
            includes: {{steps: [menu, bye]}}
            steps: [welcome, hours, menu, sales, "by*"]
            outcomes: {{sales: answered}}
        """)
    assert fixed.problems == []


def test_steps_of_a_called_flow_are_named_as_the_trace_names_them(tmp_path):
    root = Path(__file__).resolve().parent.parent
    (tmp_path / "docs.test.yaml").write_text(textwrap.dedent(f"""\
        flows: {root / 'flows'}
        cases:
          - name: sales busy, a message
            call: {{destination: "1000", time: {OPEN}}}
            caller: [{{press: "1"}}]
            bridge: {{user/1101: busy, user/1102: busy}}
            expect:
              includes: {{steps: [menu, "leave_message/*", leave_message/thanks]}}
              never: {{steps: [support, closed]}}
              outcomes: {{record: recorded}}
          - name: a called flow's step by its own name is no step the trace shows
            call: {{destination: "1000", time: {OPEN}}}
            caller: [{{press: "1"}}]
            bridge: {{user/1101: busy, user/1102: busy}}
            expect: {{never: {{steps: [thanks, example_queue/wait]}}}}
        """))
    ok, wrong = run_test_file(tmp_path / "docs.test.yaml")
    assert ok.problems == []
    assert [p.split(": ", 1)[1] for p in wrong.problems] == [
        "never: steps: 'thanks' is not a step of flow 'main' nor of a flow it calls (leave_message) "
        "(did you mean 'leave_message/thanks'?)",
        "never: steps: 'example_queue/wait' is not a step of flow 'main' nor of a flow it calls (leave_message)",
    ]


@pytest.mark.parametrize("expect,message", [
    ("{neverr: {steps: [sorry]}}", "unknown expect key 'neverr' (did you mean 'never'?); known: "),
    ("{never: {step: [sorry]}}", "expect: never: unknown key 'step' (did you mean 'steps'?); known: executed, steps"),
    ("{outcome: {sales: busy}}", "unknown expect key 'outcome' (did you mean 'outcomes'?)"),
])
def test_an_unknown_expect_key_names_the_likely_one(tmp_path, expect, message):
    with pytest.raises(FlowError) as error:
        results(tmp_path, f"""
            - name: mistyped
              call: {{destination: "100", time: {OPEN}}}
              expect: {expect}
            """)
    assert message in str(error.value)


# -- a file's broken cases, all at once -----------------------------------------------------------
BROKEN = f"""\
cases:
  - name: hangs up
    call: {{destination: "100", time: {OPEN}}}
    expect: {{result: hungup}}
  - name: sales answers
    call: {{destination: "100", time: {OPEN}}}
    caller: [{{press: "1"}}]
    expect: {{outcomes: {{sales: answered}}}}
  - name: a typo in a key
    call: {{destination: "100", time: {OPEN}}}
    expekt: {{result: hangup}}
"""


def test_every_broken_case_of_a_file_is_reported_at_once_and_the_others_still_run(tmp_path):
    from flowengine.testing.cases import BrokenCases, load_test_file
    (tmp_path / "clinic.yaml").write_text(FLOW)
    (tmp_path / "clinic.test.yaml").write_text(BROKEN)
    where = tmp_path / "clinic.test.yaml"
    first = f"{where}:4:14: case 'hangs up': result 'hungup' is not how a call ends"
    second = (f"{where}:11:5: case 'a typo in a key': unknown key 'expekt' (did you mean 'expect'?); "
              "known: bridge, call,")
    with pytest.raises(BrokenCases) as broken:
        load_test_file(where)
    [one, two] = broken.value.problems
    assert one.startswith(first) and two.startswith(second)
    assert [case.name for case in broken.value.test.cases] == ["sales answers"]
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve().parent.parent / "run.py"), "test",
                           str(where)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"ERROR {first}") and lines[1].startswith(f"ERROR {second}")
    assert lines[2:] == [f"PASS {where}: sales answers", "1 passed, 2 failed"]
    plugin = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(where)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "2 failed, 1 passed" in plugin.stdout, plugin.stdout
    assert first in plugin.stdout and second in plugin.stdout


# -- a recorded call of a flow that reads the clock ------------------------------------------------
OFFICE = """\
name: office
numbers: ["1000"]
start: welcome
calendars:
  office: {timezone: Europe/Berlin, hours: {mon-fri: "08:00-18:00"}}
steps:
  welcome: {answer: {}, next: hours}
  hours:
    when: [{if: {open: office}, goto: greet}]
    else: closed
  greet: {playback: ivr/welcome.wav, next: bye}
  closed: {playback: ivr/closed.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def replayed(tmp_path: Path, extra: str):
    (tmp_path / "office.yaml").write_text(OFFICE)
    (tmp_path / "office.test.yaml").write_text(textwrap.dedent(f"""\
        cases:
          - name: the recorded call
            replay: {Path(__file__).resolve().parent / 'fixtures/esl/answer_playback_hangup.jsonl'}
            {extra}
            expect: {{steps: [welcome, hours, greet, bye], result: hangup}}
        """))
    return run_test_file(tmp_path / "office.test.yaml")


def test_a_replay_case_is_given_its_time(tmp_path):
    [open_] = replayed(tmp_path, 'time: "2026-11-23T10:30:00+01:00"')
    assert open_.problems == []
    [night] = replayed(tmp_path, 'time: "2026-11-23T22:00:00+01:00"')     # the time counts: it goes elsewhere
    assert night.problems == ["step 'closed' sent playback \"ivr/closed.wav\" but the log's next command is "
                              "playback \"ivr/welcome.wav\" (record 11)"]
    [untimed] = replayed(tmp_path, "")          # today's date: out of office hours it goes elsewhere too
    assert untimed.problems[0] == (
        f"{tmp_path / 'office.test.yaml'}:2:5: step 'hours' looks at the time, but the case gives no time: — "
        "its result would depend on when the test runs (give e.g. time: \"2026-11-23T07:35:25+00:00\", when "
        "the call was recorded)")
    assert untimed.problems[1:] in ([], night.problems)
    [recorded] = replayed(tmp_path, 'time: "2026-11-23T07:35:25+00:00"')   # the moment it suggests passes
    assert recorded.problems == []
    with pytest.raises(FlowError, match="time: is the moment of a replayed call; a scripted call gives it as "
                                        "call: time:"):
        results(tmp_path, f"""
            - name: both
              call: {{destination: "100"}}
              time: {OPEN}
              expect: {{result: hangup}}
            """)
    with pytest.raises(FlowError, match="time 'teatime' is not an ISO 8601 moment"):
        replayed(tmp_path, "time: teatime")
