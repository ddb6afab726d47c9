"""Operator mistakes ``--check`` names, each with the file:line:col message an operator sees:
a name a condition reads that nothing gives, opening hours past midnight, digits a
play_and_get_digits can never read, a bare number of seconds that is likely milliseconds,
warnings shown with errors, a queue's exit_key, and which files of a folder are flows."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from flowengine.flows import FlowProblems, load_flows
from flowengine.flows.calendar import Calendar, inline_hours
from flowengine.flows.flowset import load_file
from flowengine.flows.source import parse_source
from flowengine.flows.validate import check

ROOT = Path(__file__).resolve().parent.parent


def problems(text: str) -> tuple[list[str], list[str]]:
    _, errors, warnings = check(parse_source(textwrap.dedent(text).lstrip("\n"), "flows/x.yaml"))
    return errors, warnings


# -- every place a name is read ------------------------------------------------------------

CONDITIONS = """
name: x
start: a
vars: {rx_status: ""}
steps:
  a:
    when:
      - if: {var: rx_stauts, equals: ready}
        goto: b
      - if: {any: [{not: {var: rx_stauts}}, {var: RX_STATUS}]}
        goto: b
      - if: {var: "${rx_status}", equals: ready}
        goto: b
      - if: {var: rx_status, equals: ready}
        goto: b
    else: b
  b: {hangup: NORMAL_CLEARING}
"""


def test_a_name_a_condition_reads_is_checked_as_a_template_name_is():
    errors, warnings = problems(CONDITIONS)
    unknown = ("is given by nothing: no flow variable, parameter, step result or FreeSWITCH variable has "
               "that name, so the test never sees a value (did you mean rx_status?); if the dialplan sets "
               "it, list it under channel_vars:")
    assert errors == []
    assert warnings == [
        f"flows/x.yaml:7:14: warning: step 'a': var: rx_stauts {unknown}",
        f"flows/x.yaml:9:27: warning: step 'a': var: rx_stauts {unknown}",   # inside any: / not:
        "flows/x.yaml:11:14: warning: step 'a': var: takes a name, not a ${…}: write var: rx_status "
        "(as written, the test looks for a variable named '${rx_status}', which no call has)",
    ]   # RX_STATUS and rx_status: known (any case, as FreeSWITCH reads names)
    # what a step sets, FreeSWITCH's own and the dialplan's declared names are known to a condition too
    quiet = CONDITIONS.replace("vars: {rx_status: \"\"}", "channel_vars: [rx_stauts, rx_status]").replace(
        '"${rx_status}"', "rx_status")
    assert problems(quiet) == ([], [])
    for name in ("read_result", "bridge_hangup_cause", "sip_h_X-Account", "caller_id_number"):
        text = CONDITIONS.replace("rx_stauts", name).replace('"${rx_status}"', name)
        assert problems(text)[1] == [], name


def test_digits_a_condition_tests_needs_a_step_that_collects_them():
    text = """
    name: x
    start: a
    steps:
      a:
        when: [{if: {digits: "1-3"}, goto: b}]
        else: b
      b: {hangup: NORMAL_CLEARING}
    """
    assert problems(text)[1] == [
        "flows/x.yaml:5:18: warning: step 'a': digits: tests ${digits}, which is given by nothing: no flow "
        "variable, parameter, step result or FreeSWITCH variable has that name, so the test never sees a "
        "value; if the dialplan sets it, list it under channel_vars:"]
    collected = text.replace("start: a", "start: ask").replace(
        "steps:\n", "steps:\n      ask: {play_and_get_digits: {prompt: p.wav}, next: a}\n")
    assert problems(collected)[1] == []


# -- opening hours past midnight -----------------------------------------------------------

NIGHT = """
name: x
start: a
timezone: Europe/Madrid
calendars:
  office: {hours: {mon-fri: "19:00-09:00"}}
steps:
  a:
    when: [{if: {open: office}, goto: b}]
    else: b
  b: {hangup: NORMAL_CLEARING}
"""


def test_hours_that_span_midnight_are_said_with_both_ways_to_write_them():
    errors, warnings = problems(NIGHT)
    assert errors == [] and warnings == [
        "flows/x.yaml:5:20: warning: calendar 'office': mon-fri: '19:00-09:00' spans midnight: it is open from "
        "19:00 until 09:00 the next day, not from 09:00 to 19:00. For 09:00 to 19:00 write '09:00-19:00'; to "
        "keep these hours, write them day by day, none past midnight: hours: {mon: \"19:00-24:00\", "
        "tue-fri: \"00:00-09:00, 19:00-24:00\", sat: \"00:00-09:00\"}"]
    # what the warning says it means: closed at 10:30 on a weekday, open at 20:00 and at 08:00 Saturday
    office = Calendar.parse({"timezone": "UTC", "hours": {"mon-fri": "19:00-09:00"}})
    monday = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    assert not office.is_open(monday)
    assert office.is_open(monday.replace(hour=20)) and office.is_open(monday + timedelta(days=5, hours=-2))
    # both ways it suggests are quiet
    assert problems(NIGHT.replace("19:00-09:00", "09:00-19:00")) == ([], [])
    day_by_day = '{mon: "19:00-24:00", tue-fri: "00:00-09:00, 19:00-24:00", sat: "00:00-09:00"}'
    assert problems(NIGHT.replace('{mon-fri: "19:00-09:00"}', day_by_day)) == ([], [])
    # an inline time: the same, written as a time: is
    inline = NIGHT.replace("{open: office}", '{time: "Mon-Fri 22:00-06:00"}')
    assert problems(inline)[1][1] == (
        "flows/x.yaml:8:18: warning: step 'a': Mon-Fri: '22:00-06:00' spans midnight: it is open from 22:00 "
        "until 06:00 the next day, not from 06:00 to 22:00. For 06:00 to 22:00 write '06:00-22:00'; to keep "
        "these hours, write them day by day, none past midnight: time: \"Mon 22:00-24:00; Tue-Fri "
        "00:00-06:00, 22:00-24:00; Sat 00:00-06:00\"")


SPAN = st.builds(lambda a, b: f"{a // 4:02d}:{a % 4 * 15:02d}-{b // 4:02d}:{b % 4 * 15:02d}",
                 st.integers(0, 95), st.integers(0, 96))
DAYS = st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun", "mon-fri", "sat-sun", "fri-mon",
                        "mon-sun"])
HOURS = st.dictionaries(DAYS, st.lists(SPAN, min_size=1, max_size=3).map(", ".join), min_size=1, max_size=4)


def _opening(hours: dict[str, str]) -> list[bool]:
    """Open or not, every 5 minutes of a week (from a Monday 00:00 UTC)."""
    office = Calendar.parse({"timezone": "UTC", "hours": hours})
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    return [office.is_open(monday + timedelta(minutes=5 * i)) for i in range(7 * 24 * 12)]


@settings(max_examples=80, deadline=None)
@given(HOURS, st.booleans())
def test_the_day_by_day_hours_a_warning_suggests_are_the_same_hours(hours, inline):
    """Whatever the hours, the rewrite the warning shows is open exactly when they are, and
    is not warned about itself."""
    text = "; ".join(f"{days} {spans}" for days, spans in hours.items())

    def flow(written: str) -> str:
        condition = f"{{time: {json.dumps(written)}}}" if inline else "{open: office}"
        office = '{mon: "08:00-09:00"}' if inline else written
        return (f"name: x\nstart: a\ntimezone: UTC\ncalendars:\n  office: {{hours: {office}}}\nsteps:\n"
                f"  a:\n    when: [{{if: {condition}, goto: b}}]\n    else: b\n  b: {{hangup: NORMAL_CLEARING}}\n")

    errors, warnings = problems(flow(text if inline else json.dumps(hours)))
    assert errors == []
    said = [w for w in warnings if "spans midnight" in w]
    overnight = any(s[:5] >= s[6:] and s[6:] != "00:00" for spans in hours.values() for s in spans.split(", "))
    assert bool(said) == overnight
    if not said:
        return
    shown = said[0].split("none past midnight: ", 1)[1]
    if inline:
        rewrite = yaml.safe_load(shown.removeprefix("time: "))
        assert _opening(inline_hours(rewrite)) == _opening(inline_hours(text))
    else:
        rewrite = shown.removeprefix("hours: ")
        assert _opening(yaml.safe_load(rewrite)) == _opening(hours)
    assert [w for w in problems(flow(rewrite))[1] if "spans midnight" in w] == []


# -- digits a play_and_get_digits can never read -------------------------------------------

def test_an_exact_key_play_and_get_digits_can_never_read_is_warned_about():
    text = """
    name: x
    start: a
    steps:
      a:
        play_and_get_digits: {prompt: p.wav, min: 7, max: 7}
        on: {"123": b, "1234567": b, "12345#7": b, "/^9/": b, timeout: b, invalid: b}
        next: b
      c:
        play_and_get_digits: {prompt: p.wav, regexp: '^[1-3]$'}
        on: {"5": b, "12": b, "2": b}
        next: b
      b: {hangup: NORMAL_CLEARING}
    """
    errors, warnings = problems(text)
    assert errors == []
    assert [w for w in warnings if "never be the digits" in w] == [
        "flows/x.yaml:6:10: warning: step 'a': '123' can never be the digits read: it is 3 digit(s), and "
        "min/max take exactly 7",
        "flows/x.yaml:6:34: warning: step 'a': '12345#7' can never be the digits read: '#' is a terminator: "
        "it ends the input and is not one of the digits",
        "flows/x.yaml:10:10: warning: step 'c': '5' can never be the digits read: regexp '^[1-3]$' refuses it "
        "(the outcome is invalid)",
        "flows/x.yaml:10:18: warning: step 'c': '12' can never be the digits read: it is 2 digit(s), and "
        "min/max take exactly 1 (max is 1 when not given)",
    ]


# -- a bare number of seconds that is likely milliseconds ----------------------------------

@pytest.mark.parametrize("value,warned", [
    ("5000", True), ('"5000"', True), ("601", True), ("600", False), ("5", False), ('"5000ms"', False),
    ('"5000s"', False), ('"90m"', False),
])
def test_a_bare_number_above_ten_minutes_names_both_units(value, warned):
    text = f"name: x\nstart: a\nsteps:\n  a: {{menu: {{prompt: m.wav, choices: {{'1': a}}, timeout: {value}}}, " \
           "on: {exhausted: a}}\n"
    errors, warnings = problems(text)
    assert errors == []
    if not warned:
        assert warnings == []
        return
    n = value.strip('"')
    assert warnings == [
        f"flows/x.yaml:4:48: warning: step 'a': menu.timeout: {n} is {n} seconds ({int(n) / 60:.0f} minutes): a "
        f"number without a unit counts seconds. For {int(n) / 1000:g} seconds write \"{int(n) / 1000:g}s\" (or "
        f"\"{n}ms\"); if {n} seconds is meant, write \"{n}s\" to say so"]


def test_a_key_that_names_its_unit_takes_a_bare_number_quietly():
    text = "name: x\nstart: a\nsteps:\n  a: {record: {file: m.wav, max_seconds: 3600}, next: b}\n" \
           "  b: {hangup: NORMAL_CLEARING}\n"
    assert problems(text) == ([], [])


# -- warnings shown with the errors --------------------------------------------------------

def run_check(target: Path) -> tuple[int, list[str], list[str]]:
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--check", str(target)],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr.splitlines(), proc.stdout.splitlines()


def test_check_shows_errors_then_warnings_in_one_run(tmp_path):
    (tmp_path / "a.yaml").write_text("name: a\nstart: s\nsteps:\n  s: {playback: x.wav, next: nowhere}\n")
    (tmp_path / "b.yaml").write_text("name: b\nstart: s\nsteps:\n  s: {sleep: 5000, next: t}\n"
                                     "  t: {hangup: NORMAL_CLEARING}\n  lost: {hangup: NORMAL_CLEARING}\n")
    code, err, _ = run_check(tmp_path)
    assert code == 1
    assert err[0] == f"{tmp_path / 'a.yaml'}:4:24: step 's': next goes to 'nowhere', which is not a step"
    assert [line.split(": warning: ")[1] for line in err[1:3]] == [
        "step 's': sleep: 5000 is 5000 seconds (83 minutes): a number without a unit counts seconds. For 5 "
        "seconds write \"5s\" (or \"5000ms\"); if 5000 seconds is meant, write \"5000s\" to say so",
        "step 'lost': is never reached from start"]
    assert err[3:] == ["1 error(s), 2 warning(s)"]
    with pytest.raises(FlowProblems) as caught:
        load_flows(tmp_path)
    assert len(caught.value.problems) == 1 and len(caught.value.warnings) == 2
    # one file: its warnings too
    code, err, _ = run_check(tmp_path / "b.yaml")
    assert code == 0 and len(err) == 2


# -- a queue's exit_key --------------------------------------------------------------------

def test_a_queue_without_exit_keys_is_not_told_to_handle_exit_key():
    text = """
    name: x
    start: q
    steps:
      q:
        queue: {name: support@default}
        on: {answered: b, timeout: b, no_agent: b, failed: b}
      b: {hangup: NORMAL_CLEARING}
    """
    assert problems(text) == ([], [])
    errors, warnings = problems(text.replace("{name: support@default}", '{name: support@default, exit_keys: "0"}'))
    assert errors == [] and warnings == [
        "flows/x.yaml:4:3: warning: step 'q': does not handle exit_key: the call is hung up there"]
    errors, warnings = problems(text.replace("failed: b", "b: b").replace("on: {answered: b, ", "on: {"))
    assert warnings == [
        "flows/x.yaml:4:3: warning: step 'q': does not handle answered, failed: the call is hung up there"]


# -- which files of a folder are flows -----------------------------------------------------

FLOW = "name: main\nnumbers: [\"100\"]\nstart: s\nsteps:\n  s: {hangup: NORMAL_CLEARING}\n"
ANSWERS = "'GET https://crm.example.com/*': {status: 200, json: {tier: vip}}\n'POST *': {status: 204}\n"
RULE = ("a flow file is a .yaml/.yml file whose top level has steps: (with name: and start:); a YAML file "
        "with none of name:, start:, steps: at its top level is not a flow and is not loaded (a test's HTTP "
        "answers, notes), nor is a *.test.yaml file (flow tests)")


def test_a_yaml_file_that_is_not_a_flow_is_left_alone(tmp_path):
    (tmp_path / "main.yaml").write_text(FLOW)
    (tmp_path / "answers").mkdir()
    (tmp_path / "answers" / "crm.yaml").write_text(ANSWERS)
    flows = load_flows(tmp_path)
    assert list(flows.flows) == ["main"] and flows.route("100").name == "main"
    assert flows.skipped == [tmp_path / "answers" / "crm.yaml"] and flows.warnings == []
    code, err, out = run_check(tmp_path)
    assert (code, err) == (0, [])
    assert out == ["1 flow(s) ok", f"{tmp_path / 'answers' / 'crm.yaml'}: not a flow (no steps: at its top "
                   "level), not loaded"]
    # named on its own, it is said not to be one
    with pytest.raises(FlowProblems) as caught:
        load_file(tmp_path / "answers" / "crm.yaml")
    assert caught.value.problems == [f"{tmp_path / 'answers' / 'crm.yaml'}:1:1: not a flow: this file has no "
                                     f"steps:; {RULE}"]


@pytest.mark.parametrize("text,at,what", [
    ("name: half\nstart: s\nstep:\n  s: {hangup: NORMAL_CLEARING}\n", "1:1", "has name:, start: but no steps:"),
    ("start: s\n", "1:1", "has start: but no steps:"),
    ("- a\n- list\n", "1:1", "is a list, not a mapping"),
    ("just words\n", "1:1", "is a single value, not a mapping"),
])
def test_a_file_that_looks_like_neither_is_an_error_that_says_the_rule(tmp_path, text, at, what):
    (tmp_path / "main.yaml").write_text(FLOW)
    (tmp_path / "other.yaml").write_text(text)
    with pytest.raises(FlowProblems) as caught:
        load_flows(tmp_path)
    assert caught.value.problems == [f"{tmp_path / 'other.yaml'}:{at}: not a flow: this file {what}; {RULE}"]


def test_a_half_written_flow_that_is_called_is_not_also_said_to_be_missing(tmp_path):
    (tmp_path / "main.yaml").write_text("name: main\nstart: s\nsteps:\n  s: {call: {flow: half}}\n")
    (tmp_path / "half.yaml").write_text("name: half\nstart: s\n")
    with pytest.raises(FlowProblems) as caught:
        load_flows(tmp_path)
    assert [p.split(": ", 1)[1] for p in caught.value.problems] == [
        f"not a flow: this file has name:, start: but no steps:; {RULE}"]


def test_the_bundled_flows_and_test_flows_load_with_nothing_skipped():
    for folder in (ROOT / "flows", *sorted((ROOT / "tests" / "flows").iterdir())):
        flows = load_flows(folder)
        assert flows.skipped == [], folder
    assert load_flows(ROOT / "flows").warnings == []
