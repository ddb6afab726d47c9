"""Hostile flow files: alias bombs, deep nesting and huge files are refused with
file:line:col, quickly and in bounded memory, never with a traceback or a stall."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flowengine.errors import FlowError
from flowengine.flows import load_flows
from flowengine.flows import source as source_module
from flowengine.flows.source import load_source, parse_source

ROOT = Path(__file__).resolve().parent.parent


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """``width ** levels`` values from a few hundred bytes of anchors and aliases."""
    lines = ["name: bomb", "start: a", 'l0: &l0 "lol"']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines + ["steps: {a: {hangup: NORMAL_CLEARING}}", ""])


def bounded(code: str, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """Run ``code`` in a child held to 1 GiB of memory and ``timeout`` s: an unbounded
    parse fails the test instead of taking the machine with it."""
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
    try:
        return subprocess.run([sys.executable, "-c", limit + textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"not refused within {timeout:g} s")


def refusal(text: str, name: str = "flows/x.yaml") -> str:
    with pytest.raises(FlowError) as caught:
        parse_source(text, name)
    return str(caught.value)


# -- aliases ------------------------------------------------------------------------------------

def test_an_alias_bomb_is_refused_in_well_under_a_second(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs())           # 387,420,489 values from 558 bytes
    done = bounded(f"""
        import time
        from flowengine.errors import FlowError
        from flowengine.flows.source import load_source
        started = time.perf_counter()
        try:
            load_source({str(bomb)!r})
        except FlowError as exc:
            print(f"{{time.perf_counter() - started:.3f}}", exc)
    """)
    assert done.returncode == 0, done.stderr
    seconds, message = done.stdout.split(" ", 1)
    assert float(seconds) < 0.5
    assert message.startswith(f"{bomb}:9:10: the file expands to more than 100,000 YAML values "
                              "(alias *l5 counts as 66,430); make the flow smaller or use fewer aliases")


def test_check_refuses_an_alias_bomb_with_its_position_and_no_traceback(tmp_path):
    (tmp_path / "bomb.yaml").write_text(billion_laughs())
    (tmp_path / "ok.yaml").write_text("name: ok\nstart: a\nsteps: {a: {hangup: NORMAL_CLEARING}}\n")
    done = bounded(f"""
        import sys
        from flowengine.cli import main
        sys.exit(main(["--check", {str(tmp_path)!r}]))
    """)
    assert done.returncode == 1, done.stderr
    assert "bomb.yaml:9:10: the file expands to more than 100,000 YAML values" in done.stderr
    assert "Traceback" not in done.stderr and "1 error(s)" in done.stderr


def test_a_merge_key_bomb_is_refused_before_the_merges_are_made():
    text = "b0: &b0 {k0: 1}\n" + "".join(
        f"b{i}: &b{i} {{<<: [{', '.join([f'*b{i - 1}'] * 9)}]}}\n" for i in range(1, 7))
    assert "the file expands to more than 100,000 YAML values (alias *b4 counts as" in refusal(text)


def test_the_value_budget_counts_what_aliases_repeat(monkeypatch):
    monkeypatch.setattr(source_module, "MAX_VALUES", 18)
    written = "a: &a [1, 2, 3, 4]\n"            # the mapping, a key, a list of 4: 7 values
    assert parse_source(written + "b: *a\nc: 1\n").data["b"] == [1, 2, 3, 4]  # 7 + (1 + 5) + 2 = 15
    assert refusal(written + "b: *a\nc: *a\n") == ("flows/x.yaml:3:4: the file expands to more than 18 YAML "
                                                   "values (alias *a counts as 5); make the flow smaller or use "
                                                   "fewer aliases")


def test_aliases_and_merge_keys_of_ordinary_flows_still_work():
    source = parse_source("base: &base {timeout: 5s, attempts: 3}\nmenu: {<<: *base, prompt: m.wav}\n"
                          "again: *base\n")
    assert source.data["menu"] == {"timeout": "5s", "attempts": 3, "prompt": "m.wav"}
    assert source.data["again"] == {"timeout": "5s", "attempts": 3}
    assert source.where(("menu", "prompt")) == "<flow>:2:19"


def test_an_alias_inside_the_value_it_names_is_refused():
    assert refusal("a: &a [1, *a]\n") == ("flows/x.yaml:1:11: alias *a is used inside the value &a names; "
                                          "a value cannot contain itself")
    assert "alias *m is used inside" in refusal("m: &m {k: [1, {z: *m}]}\n")


# -- nesting ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,where", [
    ("name: x\nv: " + "[" * 100_000 + "]" * 100_000 + "\n", "2:68"),
    ("v: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n", "1:253"),
    ("v:\n" + "- " * 100_000 + "x\n", "2:127"),
    ("".join(" " * i + "a:\n" for i in range(1_000)) + " " * 1_000 + "x\n", "64:64"),
], ids=["brackets", "flow-mappings", "block-sequences", "indentation"])
def test_deep_nesting_is_a_clean_error_not_a_recursion_error(text, where):
    assert refusal(text) == f"flows/x.yaml:{where}: YAML nesting deeper than 64 levels"


def test_nesting_up_to_64_levels_is_accepted_and_one_more_is_not():
    deepest = parse_source("v: " + "[" * 63 + "]" * 63 + "\n").data["v"]   # 1 mapping + 63 lists
    for _ in range(62):
        deepest = deepest[0]
    assert deepest == []
    assert refusal("v: " + "[" * 64 + "]" * 64 + "\n") == "flows/x.yaml:1:67: YAML nesting deeper than 64 levels"


def test_aliases_cannot_nest_deeper_than_the_text_may():
    text = "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n"
    assert refusal(text) == ("flows/x.yaml:1:40: YAML nesting deeper than 64 levels "
                             "(through aliases, at b.0.0…)")


# -- size ---------------------------------------------------------------------------------------

def test_a_file_over_one_mib_is_refused_unread(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("name: big\nstart: a\nsteps: {a: {hangup: NORMAL_CLEARING}}\nnote: " + "x" * (3 << 20) + "\n")
    with pytest.raises(FlowError) as caught:
        load_source(big)
    refused = f"{big}:1:1: the file is 3,145,792 bytes; a flow file may be at most 1 MiB (1,048,576 bytes)"
    assert str(caught.value) == refused
    with pytest.raises(FlowError) as caught:                 # and in a flow set: one problem among others
        load_flows(tmp_path)
    assert caught.value.problems == [refused]
    assert refusal("a: " + "é" * (1 << 19)) == ("flows/x.yaml:1:1: the file is larger than 1 MiB, the most a "
                                               "flow file may be (1,048,576 bytes)")   # counted in bytes
