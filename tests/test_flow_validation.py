"""Every class of flow error, with the exact file:line:col message an operator sees."""

from __future__ import annotations

import textwrap

import pytest

from flowengine.errors import FlowError
from flowengine.flows import FlowProblems, load_flows
from flowengine.flows.source import parse_source
from flowengine.flows.validate import check


def problems(text: str, name: str = "flows/x.yaml") -> tuple[list[str], list[str]]:
    try:
        source = parse_source(textwrap.dedent(text).lstrip("\n"), name)
    except FlowError as exc:
        return [str(exc)], []
    _, errors, warnings = check(source)
    return errors, warnings


HEAD = """
name: x
start: a
steps:
"""


@pytest.mark.parametrize("body,expected", [
    # YAML itself
    ("name: x\nstart: a\nsteps:\n  a: {answer: {}\n", "flows/x.yaml:5:1: not valid YAML: expected ',' or '}', but got '<stream end>'"),
    ("name: x\nstart: a\nsteps:\n  a: {hangup: NORMAL_CLEARING}\n  a: {answer: {}}\n",
     "flows/x.yaml:5:3: 'a' is defined twice (first at flows/x.yaml:4:3)"),
    ("- just\n- a list\n", "flows/x.yaml:1:1: a flow file must be a mapping (name:, start:, steps:)"),
    # the schema
    (HEAD + "  a: {plaback: x.wav}\n", "flows/x.yaml:4:7: step 'a': 'plaback' is not a known key (did you mean 'playback'?)"),
    (HEAD + "  a:\n    menu: {prompt: m.wav, choices: {'1': a}, attempts: three}\n",
     "flows/x.yaml:5:46: step 'a': menu.attempts: 'three' is not of type 'integer'"),
    ("name: x\nsteps:\n  a: {answer: {}}\n", "flows/x.yaml:1:1: 'start' is a required property"),
    (HEAD + "  a: {sleep: soon}\n", "flows/x.yaml:4:7: step 'a': sleep: 'soon' does not fit: Seconds as a number, or text such as \"5s\", \"500ms\", \"2m\"."),
    (HEAD + "  a: {next: a}\n", "flows/x.yaml:4:3: step 'a': has no action (one of answer, pre_answer, playback, "),
    (HEAD + "  a: {answer: {}, playback: x.wav}\n",
     "flows/x.yaml:4:3: step 'a': has more than one action: answer, playback; give each its own step"),
    # the meaning
    (HEAD + "  a: {answer: {}, next: b}\n", "flows/x.yaml:4:19: step 'a': next goes to 'b', which is not a step"),
    ("name: x\nstart: b\nsteps:\n  a: {hangup: NORMAL_CLEARING}\n", "flows/x.yaml:2:1: start is 'b', which is not a step"),
    (HEAD + "  a:\n    menu: {prompt: m.wav, choices: {'1': a, '4': billing}}\n",
     "flows/x.yaml:5:45: step 'a': menu.choices.\"4\" goes to 'billing', which is not a step"),
    (HEAD + "  a:\n    bridge: user/1\n    on: {busyy: a}\n",
     "flows/x.yaml:6:10: step 'a': a bridge step has no outcome 'busyy'; its outcomes are answered, busy, failed, no_answer"),
    (HEAD + "  a: {hangup: NORMAL_CLEARING, next: a}\n",
     "flows/x.yaml:4:32: step 'a': a hangup step ends the flow: next/on are never taken"),
    (HEAD + "  a: {set: {x: 1}, next: b}\n  b: {goto: a}\n",
     "flows/x.yaml:4:3: step 'a': loops without waiting for the caller: a -> b -> a"),
    (HEAD + "  a:\n    when:\n      - if: {var: x, matches: '(['}\n        goto: a\n",
     "flows/x.yaml:6:22: step 'a': '([' is not a valid regular expression"),
    (HEAD + "  a:\n    when:\n      - if: {var: x, matches: '^(\\d)\\1$'}\n        goto: a\n",
     "flows/x.yaml:6:22: step 'a': '^(\\\\d)\\\\1$' is refused: the pattern uses a backreference (\\1, (?P=name)), "
     "which a linear-time engine cannot run"),
    (HEAD + "  a: {sleep: 2d}\n", "flows/x.yaml:4:7: step 'a': sleep: '2d' does not fit: Seconds as a number, or text"),
    (HEAD + "  a: {sleep: 48h}\n", "flows/x.yaml:4:7: step 'a': sleep: '48h' is not a duration from 0 to 24h (86400 seconds)"),
    (HEAD + "  a:\n    when:\n      - if: {open: office}\n        goto: a\n",
     "flows/x.yaml:6:14: step 'a': calendar 'office' is not defined in calendars:"),
    ("name: x\nstart: a\ncalendars:\n  office: {timezone: Mars/Olympus}\nsteps:\n  a: {answer: {}}\n",
     "flows/x.yaml:4:3: calendar 'office': 'Mars/Olympus' is not a known timezone (e.g. Europe/Berlin)"),
    ("name: x\nstart: a\ncalendars:\n  office: {timezone: UTC, hours: {mon: '8-18'}}\nsteps:\n  a: {answer: {}}\n",
     "flows/x.yaml:4:3: calendar 'office': '8-18' is not HH:MM-HH:MM"),
    ("name: x\nnumbers: ['1099-1000']\nstart: a\nsteps:\n  a: {answer: {}}\n",
     "flows/x.yaml:2:1: range '1099-1000' needs two numbers of the same length, low first"),
])
def test_error_classes(body, expected):
    errors, _ = problems(body)
    assert any(e.startswith(expected) for e in errors), errors


def test_warnings():
    errors, warnings = problems(HEAD + "  a: {playback: x.wav}\n  lost: {hangup: NORMAL_CLEARING}\n")
    assert errors == []
    assert warnings == [
        "flows/x.yaml:5:3: warning: step 'lost': is never reached from start",
        "flows/x.yaml:4:3: warning: step 'a': does not handle played, not_found: the call is hung up there",
    ]


def write(tmp_path, name, text):
    (tmp_path / name).write_text(textwrap.dedent(text).lstrip("\n"))


def test_errors_across_files(tmp_path):
    write(tmp_path, "a.yaml", """
        name: a
        numbers: ["2000"]
        default: true
        start: s
        steps:
          s: {call: {flow: nowhere}}
        """)
    write(tmp_path, "b.yaml", """
        name: a
        start: s
        steps:
          s: {hangup: NORMAL_CLEARING}
        """)
    write(tmp_path, "c.yaml", """
        name: c
        numbers: ["/^2\\\\d{3}$/"]
        default: true
        start: s
        steps:
          s: {call: {flow: sub, with: {colour: red}}}
        """)
    write(tmp_path, "sub.yaml", """
        name: sub
        params: {box: {type: digits, required: true}}
        start: s
        steps:
          s: {return: done}
        """)
    write(tmp_path, "a.test.yaml", "not: a flow")
    with pytest.raises(FlowProblems) as caught:
        load_flows(tmp_path)
    got = caught.value.problems
    d = tmp_path
    assert f"{d / 'b.yaml'}:1:1: flow name 'a' is also used by {d / 'a.yaml'}:1:1" in got
    assert f"{d / 'c.yaml'}:2:11: number '/^2\\d{{3}}$/' is also claimed by '2000' in {d / 'a.yaml'}:2:11 (flow 'a')" in got
    assert f"{d / 'c.yaml'}:3:1: both this flow and {d / 'a.yaml'}:3:1 say default: true" in got
    assert f"{d / 'a.yaml'}:6:14: step 's': calls flow 'nowhere', which does not exist" in got
    assert f"{d / 'c.yaml'}:6:32: step 's': flow 'sub' has no parameter 'colour'" in got
    assert f"{d / 'c.yaml'}:6:14: step 's': flow 'sub' needs parameter 'box'" in got
    assert len(got) == 6


def test_the_shipped_flows_are_clean():
    from pathlib import Path
    flows = load_flows(Path(__file__).resolve().parent.parent / "flows")
    assert flows.warnings == []
    assert flows.route("1000").name == "main" and flows.route("1099").name == "main"
    assert flows.route("1100") is None
    kinds = {step.kind for flow in flows.flows.values() for step in flow.steps.values()}
    assert kinds == {"answer", "pre_answer", "playback", "play_and_get_digits", "menu", "bridge", "hangup",
                     "set", "when", "goto", "sleep", "say", "record", "transfer", "call", "return", "http"}
    assert {flows.route(str(n)).name for n in range(2001, 2010)} == {
        "example_playback", "example_collect", "example_bridge", "example_decide", "example_say",
        "example_record", "example_transfer", "example_early_media", "example_http"}


def test_call_parameter_types_and_the_default_flow(tmp_path):
    write(tmp_path, "sub.yaml", """
        name: sub
        params: {box: {type: digits}, loud: {type: boolean}}
        start: s
        steps:
          s: {return: done}
        """)
    write(tmp_path, "a.yaml", """
        name: a
        default: true
        start: s
        steps:
          s: {call: {flow: sub, with: {box: "12a", loud: maybe}}}
        """)
    with pytest.raises(FlowProblems) as caught:
        load_flows(tmp_path)
    assert caught.value.problems == [
        f"{tmp_path / 'a.yaml'}:5:32: step 's': parameter 'box' of flow 'sub' is digits, not '12a'",
        f"{tmp_path / 'a.yaml'}:5:44: step 's': parameter 'loud' of flow 'sub' is boolean, not 'maybe'"]
    write(tmp_path, "a.yaml", """
        name: a
        default: true
        start: s
        steps:
          s: {call: {flow: sub, with: {box: "${caller_id_number}", loud: true}}}
        """)
    flows = load_flows(tmp_path)
    assert flows.route("12345").name == "a" and flows.route(None).name == "a"
