"""Flow patterns run by RE2: Python's answers for the common syntax, the constructs that
need backtracking refused at --check with file:line:col, and no pattern a flow can hold
ever blocks a call or a reload (each of those runs in a child killed after a timeout:
with a backtracking engine it would run for minutes)."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flowengine.flows import patterns
from flowengine.flows.numbers import NumberPattern
from flowengine.flows.patterns import MAX_PATTERN, MAX_SUBJECT, PatternError, SubjectTooLong

from .test_flow_validation import HEAD, problems

ROOT = Path(__file__).resolve().parent.parent

#: patterns that take exponential time in a backtracking engine on a long non-matching value
EVIL = [r"^(a+)+$", r"^(a|a)*$", r"^(a|aa)+$", r"^(\w+\s?)*$", r"^([a-z]+)*[0-9]$"]
#: a 4 KB caller ID name that none of them matches
NAME = "a" * 4095 + "!"


@pytest.mark.parametrize("pattern,value", [
    (r"^5\d{3}$", "5123"), (r"^5\d{3}$", "51234"), (r"^1\d{2,3}$", "1000"), (r"^1\d{2,3}$", "10"),
    (r"^(10|20)\d$", "205"), (r"^\+49", "+4930123"), (r"^[0-9*#]+$", "12*#"), (r"^[^0]", "0123"),
    (r"^[]a]$", "]"), (r"^a{,3}$", "aaa"), (r"^a{,3}$", "aaaa"), (r"^a{,}$", "aaaa"), (r"[{,3}]", "{"),
    (r"\{,3}", "{,3}"), (r"ab\Z", "xab"), (r"ab\Z", "abc"), (r"(?i)^alice$", "ALICE"), (r"^\d+?$", "12"),
    (r"^(?P<area>\d{3})-\d{4}$", "030-1234"), (r"\bVIP\b", "a VIP caller"), (r"^\s*$", "  "),
    (r"\.wav$", "menu.wav"), (r"^(?:sales|support)$", "support"), (r"^.$", "ä"),
])
def test_the_common_syntax_answers_as_python_does(pattern, value):
    assert patterns.search(pattern, value) is (re.search(pattern, value) is not None)


def test_digit_classes_are_ascii_only():
    assert re.search(r"^\d{3}$", "١٢٣")             # Python's \d takes Arabic-Indic digits …
    assert not patterns.search(r"^\d{3}$", "١٢٣")   # … a flow's does not


def test_compiled_once_and_pickled_as_text():
    pattern = patterns.compile(r"^7\d+$")
    assert pattern is patterns.compile(r"^7\d+$")
    number = NumberPattern.parse(r"/^7\d+$/")  # a loaded flow set is handed between processes
    assert pickle.loads(pickle.dumps(number)) == number and pickle.loads(pickle.dumps(pattern)).search("71")


@pytest.mark.parametrize("pattern,feature", [
    (r"^(\d)\1$", "a backreference (\\1, (?P=name))"),
    (r"^(?P<d>\d)(?P=d)$", "a backreference (\\1, (?P=name))"),
    (r"^(1)?(?(1)2|3)$", "a conditional group (?(1)…|…)"),
    (r"^1(?=2)", "a lookahead (?=…)"),
    (r"^1(?!0)", "a negative lookahead (?!…)"),
    (r"(?<=0)1", "a lookbehind (?<=…)"),
    (r"(?<!0)1", "a negative lookbehind (?<!…)"),
    (r"^1++$", "a possessive quantifier (*+, ++, ?+)"),
    (r"^(?>12)$", "an atomic group (?>…)"),
    (r"(?x) 1 2", "verbose mode (?x)"),
])
def test_constructs_that_need_backtracking_are_refused(pattern, feature):
    with pytest.raises(PatternError) as caught:
        patterns.compile(pattern)
    assert str(caught.value).startswith(
        f"{pattern!r} is refused: the pattern uses {feature}, which a linear-time engine cannot run (")


def test_what_python_would_reject_and_what_is_too_long():
    with pytest.raises(PatternError, match=r"^'\(\[' is not a valid regular expression: unterminated"):
        patterns.compile("([")
    with pytest.raises(PatternError, match=r"is 1001 characters long; a pattern may have at most 1000$"):
        patterns.compile("1" * (MAX_PATTERN + 1))
    with pytest.raises(PatternError, match="nests groups too deeply"):
        patterns.compile("(" * 499 + "1" + ")" * 499)
    with pytest.raises(PatternError, match="RE2, the linear-time engine that runs flow patterns, cannot run it"):
        patterns.compile(r"(?u)1")
    with pytest.raises(SubjectTooLong):
        patterns.search("a", "a" * (MAX_SUBJECT + 1))
    assert patterns.search("a", "a" * MAX_SUBJECT)


FLOWS = {  # where a flow holds a pattern -> (flow text, file:line:col the refusal names)
    "numbers": ("name: x\nnumbers: ['/^(1)\\1$/']\nstart: a\nsteps:\n  a: {hangup: NORMAL_CLEARING}\n",
                "flows/x.yaml:2:1: '^(1)\\\\1$' is refused: the pattern uses a backreference"),
    "matches": (HEAD + "  a:\n    when:\n      - if: {var: caller_id_name, matches: '^a(?=b)'}\n"
                "        goto: b\n    else: b\n  b: {hangup: NORMAL_CLEARING}\n",
                "flows/x.yaml:6:35: step 'a': '^a(?=b)' is refused: the pattern uses a lookahead"),
    "caller": (HEAD + "  a:\n    when:\n      - if: {caller: '/(?<=5)1/'}\n        goto: b\n    else: b\n"
               "  b: {hangup: NORMAL_CLEARING}\n",
               "flows/x.yaml:6:14: step 'a': '(?<=5)1' is refused: the pattern uses a lookbehind"),
    "menu choice": (HEAD + "  a:\n    menu: {prompt: m.wav, choices: {'/^1++$/': b}}\n    on: {exhausted: b}\n"
                    "  b: {hangup: NORMAL_CLEARING}\n",
                    "flows/x.yaml:5:37: step 'a': '^1++$' is refused: the pattern uses a possessive quantifier"),
    "digits on": (HEAD + "  a:\n    play_and_get_digits: {prompt: p.wav, max: 4}\n"
                  "    on: {'/^(?>12)$/': b, timeout: b, invalid: b, digits: b}\n  b: {hangup: NORMAL_CLEARING}\n",
                  "flows/x.yaml:6:10: step 'a': '^(?>12)$' is refused: the pattern uses an atomic group"),
    "regexp": (HEAD + "  a:\n    play_and_get_digits: {prompt: p.wav, max: 4, regexp: '^(?!0)\\d+$'}\n"
               "    on: {timeout: b, invalid: b, digits: b}\n  b: {hangup: NORMAL_CLEARING}\n",
               "flows/x.yaml:5:50: step 'a': '^(?!0)\\\\d+$' is refused: the pattern uses a negative lookahead"),
}


@pytest.mark.parametrize("place", list(FLOWS))
def test_refused_at_check_with_where_it_is_written(place):
    text, expected = FLOWS[place]
    errors, _ = problems(text)
    assert len(errors) == 1 and errors[0].startswith(expected), errors
    assert errors[0].endswith(")") and "which a linear-time engine cannot run (" in errors[0]


def test_run_py_check_refuses_the_flow(tmp_path):
    (tmp_path / "x.yaml").write_text(FLOWS["matches"][0].lstrip("\n"))
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), "--check", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"{tmp_path / 'x.yaml'}:6:35: step 'a': '^a(?=b)' is refused: the pattern uses a lookahead (?=…), " \
           "which a linear-time engine cannot run" in done.stdout + done.stderr


def worst_case(code: str, timeout: float = 10.0) -> float:
    """Run ``code`` in a fresh interpreter and return the slowest time it measured with
    ``timed``. A backtracking engine would run for minutes: the child is killed at ``timeout``."""
    prelude = textwrap.dedent(f"""
        import time
        EVIL, NAME = {EVIL!r}, {NAME!r}
        times = []
        def timed(call):
            start = time.perf_counter()
            result = call()
            times.append(time.perf_counter() - start)
            return result
        """)
    try:
        done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code) + "\nprint(max(times))"],
                              cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still matching after {timeout:.0f} s: the pattern backtracked")
    assert done.returncode == 0, done.stderr
    return float(done.stdout.split()[-1])


def test_matches_on_a_4kb_caller_name_finishes_fast():
    worst = worst_case("""
        from tests.flowkit import CHANNEL, flow_from, play, script
        from flowengine.esl import Event
        channel = Event.from_plain(b"Unique-ID: " + CHANNEL.unique_id.encode()
                                   + b"\\nCaller-Caller-ID-Name: " + NAME.encode() + b"\\n\\n")
        for evil in EVIL:
            flow = flow_from(f'''
        name: x
        start: a
        steps:
          a:
            when:
              - if: {{var: caller_id_name, matches: '{evil}'}}
                goto: matched
            else: other
          matched: {{hangup: CALL_REJECTED}}
          other: {{hangup: NORMAL_CLEARING}}
        ''')
            run = timed(lambda: play(flow, script(), channel=channel))
            assert run.visited == ["a", "other"], run.visited
        """)
    print(f"worst case of {len(EVIL)} evil patterns on a 4 KB caller name, whole call: {worst * 1000:.2f} ms")
    assert worst < 0.5


def test_a_number_pattern_on_a_4kb_number_finishes_fast(tmp_path):
    (tmp_path / "x.yaml").write_text("name: x\nnumbers: ['/^(1+)+$/']\nstart: a\nsteps:\n"
                                     "  a: {hangup: NORMAL_CLEARING}\n")
    worst = worst_case(f"""
        from flowengine.flows import load_flows
        from flowengine.flows.conditions import holds
        flows = load_flows({str(tmp_path)!r})
        number = "1" * 4095 + "0"
        assert timed(lambda: flows.route(number)) is None
        assert not timed(lambda: holds({{"caller": "/^(1+)+$/"}}, lookup=lambda n: number, calendars={{}}, now=None))
        assert flows.route("1" * 70000) is None  # longer than any pattern reads: claimed by none
        """)
    assert worst < 0.5


def test_the_overlap_check_at_load_finishes_fast(tmp_path):
    """A reload (SIGHUP) checks every pattern against the other flows' numbers."""
    (tmp_path / "a.yaml").write_text("name: a\nnumbers: ['/^(1+)+$/']\nstart: s\nsteps:\n"
                                     "  s: {hangup: NORMAL_CLEARING}\n")
    (tmp_path / "b.yaml").write_text(f"name: b\nnumbers: ['{'1' * 4095}0']\nstart: s\nsteps:\n"
                                     "  s: {hangup: NORMAL_CLEARING}\n")
    worst = worst_case(f"""
        from flowengine.flows import load_flows
        flows = timed(lambda: load_flows({str(tmp_path)!r}))
        assert sorted(flows.flows) == ["a", "b"]
        """)
    assert worst < 0.5


def test_the_scripted_freeswitch_runs_regexp_in_linear_time():
    worst = worst_case("""
        from flowengine.testing.memory import MemorySession
        from flowengine.testing.scripted import ScriptedFreeSwitch
        session = MemorySession(ScriptedFreeSwitch(destination="1", actions=[{"press": "1" * 127 + "0"}]))
        session.start()
        done = timed(lambda: session.execute("play_and_get_digits", "1 128 1 1000 # p.wav i.wav code ^(1+)+$ 1000"))
        assert done.variable("code_invalid") == "1" * 127 + "0"
        """)
    assert worst < 0.5
