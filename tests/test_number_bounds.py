"""Every number a flow gives is bounded at --check: counts by the schema, durations by the
schema and by ``seconds()`` (NaN passes any schema bound), NaN and infinity anywhere."""

from __future__ import annotations

import json
import math

import pytest

from flowengine.flows.model import MAX_DURATION, BadDuration, seconds
from flowengine.flows.validate import SCHEMA_PATH, _durations

from .test_flow_validation import HEAD, problems
from .test_patterns import worst_case

BYE = "  bye: {hangup: NORMAL_CLEARING}\n"


@pytest.mark.parametrize("body,expected", [
    # a goto loop under a budget of 10^12 steps froze the server
    ("name: x\nstart: a\nmax_transitions: 1000000000000\nsteps:\n  a: {answer: {}, next: b}\n  b: {goto: a}\n",
     "flows/x.yaml:3:1: max_transitions: 1000000000000 is greater than the maximum of 10000"),
    (HEAD + "  a: {answer: {}, next: b}\n  b: {goto: a, max: 1000000000000, exceeded: bye}\n" + BYE,
     "flows/x.yaml:5:16: step 'b': max: 1000000000000 is greater than the maximum of 10000"),
    (HEAD + "  a:\n    when:\n      - if: {var: x}\n        goto: a\n        max: 10001\n        exceeded: bye\n"
     "    else: bye\n" + BYE,
     "flows/x.yaml:8:9: step 'a': when.0.max: 10001 is greater than the maximum of 10000"),
    # .inf and .nan passed --check and failed every call
    (HEAD + "  a:\n    bridge: user/1\n    timeout: .inf\n    next: bye\n" + BYE,
     "flows/x.yaml:6:5: step 'a': timeout: inf does not fit: Seconds as a number, or text such as \"5s\", "
     "\"500ms\", \"2m\". From 0 to 24h (86400 seconds)."),
    (HEAD + "  a:\n    bridge: user/1\n    timeout: .nan\n    next: bye\n" + BYE,
     "flows/x.yaml:6:5: step 'a': timeout: nan is not a duration from 0 to 24h (86400 seconds)"),
    (HEAD + "  a: {sleep: 1.0e+999, next: bye}\n" + BYE, "flows/x.yaml:4:7: step 'a': sleep: inf does not fit:"),
    (HEAD + "  a: {sleep: -1, next: bye}\n" + BYE, "flows/x.yaml:4:7: step 'a': sleep: -1 does not fit:"),
    (HEAD + "  a: {sleep: 86401, next: bye}\n" + BYE, "flows/x.yaml:4:7: step 'a': sleep: 86401 does not fit:"),
    (HEAD + "  a: {sleep: 25h, next: bye}\n" + BYE,
     "flows/x.yaml:4:7: step 'a': sleep: '25h' is not a duration from 0 to 24h (86400 seconds)"),
    (HEAD + "  a:\n    menu: {prompt: m.wav, choices: {'1': bye}, digit_timeout: .NaN}\n    on: {exhausted: bye}\n" + BYE,
     "flows/x.yaml:5:48: step 'a': menu.digit_timeout: nan is not a duration from 0 to 24h (86400 seconds)"),
    (HEAD + "  a:\n    play_and_get_digits: {prompt: p.wav, timeout: 1441m}\n    next: bye\n" + BYE,
     "flows/x.yaml:5:42: step 'a': play_and_get_digits.timeout: '1441m' is not a duration from 0 to 24h"),
    (HEAD + "  a:\n    bridge: [user/1, {to: user/2, timeout: 86400001ms}]\n    next: bye\n" + BYE,
     "flows/x.yaml:5:35: step 'a': bridge.1.timeout: '86400001ms' is not a duration from 0 to 24h"),
    # record
    (HEAD + "  a: {record: {file: a.wav, max_seconds: 14401}, next: bye}\n" + BYE,
     "flows/x.yaml:4:29: step 'a': record.max_seconds: 14401 is longer than 4 hours"),
    (HEAD + "  a: {record: {file: a.wav, silence_threshold: 32768}, next: bye}\n" + BYE,
     "flows/x.yaml:4:29: step 'a': record.silence_threshold: 32768 is greater than the maximum of 32767"),
    (HEAD + "  a: {record: {file: a.wav, silence_seconds: 14401}, next: bye}\n" + BYE,
     "flows/x.yaml:4:29: step 'a': record.silence_seconds: 14401 is longer than 4 hours"),
    # values: NaN and infinity would reach the call as the text "nan" / "inf"
    ("name: x\nstart: a\nvars: {x: .nan}\nsteps:\n  a: {answer: {}, next: bye}\n" + BYE,
     "flows/x.yaml:3:8: vars.x: nan is not a finite number (quote it if it is text)"),
    (HEAD + "  a: {set: {volume: -.inf}, next: bye}\n" + BYE,
     "flows/x.yaml:4:13: step 'a': set.volume: -inf is not a finite number (quote it if it is text)"),
    (HEAD + "  a:\n    when:\n      - if: {var: x, equals: .nan}\n        goto: bye\n    else: bye\n" + BYE,
     "flows/x.yaml:6:22: step 'a': when.0.if.equals: nan is not a finite number"),
])
def test_out_of_range_numbers_are_refused(body, expected):
    errors, _ = problems(body)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


@pytest.mark.parametrize("body", [
    "name: x\nstart: a\nmax_transitions: 10000\nsteps:\n  a: {answer: {}, next: b}\n"
    "  b: {goto: a, max: 10000, exceeded: bye}\n" + BYE,
    HEAD + "  a: {sleep: 24h, next: b}\n  b: {sleep: 86400, next: c}\n  c: {sleep: 0, next: d}\n"
    "  d: {sleep: 86400000ms, next: e}\n  e: {sleep: 1440m, next: bye}\n" + BYE,
    HEAD + "  a: {record: {file: a.wav, max_seconds: 14400, silence_threshold: 32767, silence_seconds: 14400}, "
    "next: bye}\n" + BYE,
    HEAD + "  a: {set: {x: '.nan', y: 1.5e300}, next: bye}\n" + BYE,
])
def test_the_bounds_themselves_are_allowed(body):
    errors, _ = problems(body)
    assert errors == []


def test_seconds_refuses_what_no_call_can_wait_on():
    assert seconds("24h") == MAX_DURATION == seconds(86400) and seconds(" 500 ms ") == 0.5
    for value in (math.nan, math.inf, -1, 86400.5, 10 ** 400, "25h", "soon", "9" * 400):
        with pytest.raises(BadDuration):
            seconds(value)


def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, path + (i,))


def test_every_number_in_the_schema_has_both_bounds():
    # values said or set, not counts: NaN and infinity in them are refused by the flow check
    values = {("$defs", "scalar"), ("$defs", "step", "properties", "say", "properties", "text")}

    def numeric(node: dict) -> bool:
        kinds = node.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds] if isinstance(kinds, str) else []
        return bool({"integer", "number"} & set(kinds))
    unbounded = [path for path, node in _walk(_schema()) if path not in values and numeric(node)
                 and not ("minimum" in node and "maximum" in node)]
    assert unbounded == []


def test_every_duration_in_the_schema_is_checked():
    """``_durations`` finds each use of ``$defs/duration`` (a new one must be added there)."""
    schema = _schema()
    refs = {path for path, node in _walk(schema) if node.get("$ref") == "#/$defs/duration"}
    step = ("$defs", "step", "properties")
    assert refs == {step + ("sleep",), step + ("timeout",),
                    step + ("menu", "properties", "timeout"), step + ("menu", "properties", "digit_timeout"),
                    step + ("play_and_get_digits", "properties", "timeout"),
                    step + ("play_and_get_digits", "properties", "digit_timeout"),
                    step + ("record", "properties", "max_seconds"), step + ("record", "properties", "silence_seconds"),
                    ("$defs", "bridge_target", "oneOf", 1, "properties", "timeout"),
                    step + ("http", "properties", "timeout"),
                    step + ("http", "properties", "while_waiting", "properties", "after")}
    spec = {"sleep": 1, "timeout": 1, "menu": {"timeout": 1, "digit_timeout": 1},
            "play_and_get_digits": {"timeout": 1, "digit_timeout": 1}, "bridge": [{"to": "u", "timeout": 1}],
            "http": {"timeout": 1, "while_waiting": {"after": 1}}}
    assert {path for path, _ in _durations(spec)} == {
        ("sleep",), ("timeout",), ("menu", "timeout"), ("menu", "digit_timeout"), ("play_and_get_digits", "timeout"),
        ("play_and_get_digits", "digit_timeout"), ("bridge", 0, "timeout"), ("http", "timeout"),
        ("http", "while_waiting", "after")}
    assert [path for path, _ in _durations({"bridge": {"to": "u", "timeout": 1}})] == [("bridge", "timeout")]


def test_a_long_duration_text_is_checked_in_linear_time():
    """The duration pattern had two blank runs side by side: quadratic in a long string."""
    worst = worst_case("""
        from flowengine.flows.model import seconds
        from tests.test_flow_validation import problems
        text = "1" + " " * 100000 + "x"
        errors, _ = timed(lambda: problems("name: x\\nstart: a\\nsteps:\\n  a: {sleep: '" + text + "'}\\n"))
        assert "does not fit" in errors[0], errors
        try:
            timed(lambda: seconds(text))
        except ValueError:
            pass
        """)
    assert worst < 0.5
