"""A flow says who starts its calls (``direction: inbound | outbound | both``): ``--check``
reads it (file:line:col), originate (``run.py originate --flows``, ``POST /calls``) refuses a
flow callers dial before anything is dialled, an engine routes a token naming one by the
call's number, and an outbound flow's variables are its ``params:``, judged by the one rule
a ``call`` step is held to."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flowengine.flows import load_flows
from flowengine.flows.source import parse_source
from flowengine.flows.validate import check
from flowengine.originate.cli import originate_command
from flowengine.originate.pacing import Pacing
from flowengine.originate.params import params_problems
from flowengine.runtime import call_token

from .test_originate import key_file  # noqa: F401 - a fixture
from .test_originate_api import rig  # noqa: F401 - a fixture
from .test_originate_token import FRONT, VALUES, place, token

ROOT = Path(__file__).resolve().parent.parent


def problems(text: str) -> tuple[list[str], list[str]]:
    _, errors, warnings = check(parse_source(textwrap.dedent(text).lstrip("\n"), "flows/x.yaml"))
    return errors, warnings


def flow_text(name: str, head: str = "", step: str = '{playback: "x.wav", next: bye}') -> str:
    return f"name: {name}\n{head}start: a\nsteps:\n  a: {step}\n  bye: {{hangup: NORMAL_CLEARING}}\n"


# -- the key, as --check reads it ----------------------------------------------------------


def test_direction_is_inbound_outbound_or_both_and_inbound_when_not_said(tmp_path):
    for name, head in [("plain", ""), ("callers", "direction: inbound\n"), ("started", "direction: outbound\n"),
                       ("either", "direction: both\n")]:
        (tmp_path / f"{name}.yaml").write_text(flow_text(name, head))
    flows = load_flows(str(tmp_path)).flows
    assert {n: (f.direction, f.originated) for n, f in flows.items()} == {
        "plain": ("inbound", False), "callers": ("inbound", False), "started": ("outbound", True),
        "either": ("both", True)}
    errors, _ = problems(flow_text("x", "direction: outgoing\n"))
    assert errors == ["flows/x.yaml:2:1: direction: 'outgoing' is not one of ['inbound', 'outbound', 'both']"]


@pytest.mark.parametrize("head,said", [
    ('direction: outbound\nnumbers: ["7100"]\n', "numbers:"),
    ("default: true\ndirection: outbound\n", "default: true"),
])
def test_an_outbound_flow_callers_can_dial_is_warned_about_at_its_direction(head, said):
    errors, warnings = problems(flow_text("x", head))
    line = head.splitlines().index("direction: outbound") + 2
    assert errors == [] and warnings == [
        f"flows/x.yaml:{line}:1: warning: direction: outbound, yet {said} lets callers dial in, and such a call "
        f"runs with no parameters (their defaults at most); write direction: both if that is meant, or remove {said}"]
    # both says that callers dial it too; an outbound flow no caller reaches is what it says
    assert problems(flow_text("x", head.replace("outbound", "both"))) == ([], [])
    assert problems(flow_text("x", "direction: outbound\n")) == ([], [])


def test_check_prints_the_warning_and_passes(tmp_path):
    target = tmp_path / "notice.yaml"
    target.write_text(flow_text("notice", 'direction: outbound\nnumbers: ["7100"]\n'))
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), "--check", str(target)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{target}:2:1: warning: direction: outbound, yet numbers: lets callers dial in" in done.stdout + done.stderr


def test_a_parameters_default_must_be_of_its_type():
    errors, _ = problems("""
        name: x
        direction: outbound
        params:
          slot: {type: digits, default: "1a"}
          ok: {type: boolean, default: true}
        start: a
        steps:
          a: {playback: "x/${slot}.wav", next: bye}
          bye: {hangup: NORMAL_CLEARING}
        """)
    assert errors == ["flows/x.yaml:4:24: parameter 'slot' is digits, not '1a'"]


# -- one rule for a call step's values and an originate request's --------------------------

CONFIRM = """name: confirm
direction: outbound
params:
  appointment: {type: string, required: true}
  slot: {type: digits, default: "1"}
  loud: {type: boolean}
start: a
steps:
  a: {playback: "x/${appointment}/${slot}/${loud}.wav", next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""
BARE = flow_text("bare", "direction: outbound\n")


@pytest.mark.parametrize("target,values", [
    ("confirm", {"appointment": "Mon"}),
    ("confirm", {}),
    ("confirm", {"slot": "1a", "appointment": "Mon", "other": "y"}),
    ("confirm", {"appointment": "Mon", "loud": "maybe", "slot": "12#"}),
    ("confirm", {"loud": "true", "slot": "x" * 60}),
    ("bare", {"anything": "1"}),  # no params: takes none, from a call step or from originate
])
def test_a_call_step_and_originate_are_held_to_one_params_rule(tmp_path, target, values):
    given = "".join(f"\n        {name}: {value!r}" for name, value in values.items()) or " {}"
    caller = (f"name: caller\nstart: a\nsteps:\n  a:\n    call:\n      flow: {target}\n      with:{given}\n"
              "    next: bye\n  bye: {hangup: NORMAL_CLEARING}\n")
    for name, text in [("confirm", CONFIRM), ("bare", BARE), ("caller", caller)]:
        (tmp_path / f"{name}.yaml").write_text(text)
    try:
        load_flows(str(tmp_path))
        from_call: list[str] = []
    except Exception as exc:  # noqa: BLE001 - FlowProblems, compared below
        from_call = [re.sub(r"^\S+:\d+:\d+: step 'a': ", "", line) for line in exc.problems]  # type: ignore[attr-defined]
    (tmp_path / "caller.yaml").unlink()
    flow = load_flows(str(tmp_path)).flows[target]
    assert params_problems(flow, values) == from_call
    if target == "bare":
        assert from_call == ["flow 'bare' has no parameter 'anything'"]


# -- originate refuses a flow callers dial, before anything is dialled -----------------------

INBOUND_REFUSED = "is inbound (no direction): originate may not start a flow callers dial"


def unused_port() -> int:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        return unused.getsockname()[1]


def test_run_py_originate_refuses_an_inbound_flow_up_front(tmp_path, key_file, capsys):  # noqa: F811
    (tmp_path / "front.yaml").write_text(FRONT)
    (tmp_path / "desk.yaml").write_text(flow_text("desk", "direction: inbound\n"))
    (tmp_path / "confirm.yaml").write_text(CONFIRM)
    base = ["--freeswitch", f"127.0.0.1:{unused_port()}", "--engine", "127.0.0.1:9000", "--key-file", key_file,
            "--to", "loopback/7001", "--flows", str(tmp_path)]
    assert originate_command([*base, "--flow", "front"]) == 2
    assert f"error: flow 'front' {INBOUND_REFUSED}; write direction: outbound" in capsys.readouterr().err
    assert originate_command([*base, "--flow", "desk"]) == 2
    assert "flow 'desk' says direction: inbound: originate may not start" in capsys.readouterr().err
    # an outbound flow with its params passes the check and goes on to FreeSWITCH (none here)
    assert originate_command([*base, "--flow", "confirm", "--var", "appointment=Mon"]) == 2
    assert "cannot connect" in capsys.readouterr().err


def test_post_calls_refuses_an_inbound_flow_and_dials_nothing(rig, tmp_path):  # noqa: F811
    (tmp_path / "front.yaml").write_text(FRONT)
    (tmp_path / "confirm.yaml").write_text(CONFIRM)
    api, fs = rig(Pacing(), flows=load_flows(str(tmp_path)))
    status, body = api.request("POST", "/calls", {"to": "loopback/7001", "flow": "front"})
    assert status == 422 and INBOUND_REFUSED in body["error"]
    assert fs.originated == []
    status, body = api.request("POST", "/calls", {"to": "loopback/7001", "flow": "confirm",
                                                  "vars": {"appointment": "Mon", "slot": "x"}})
    assert status == 422 and body["error"] == "parameter 'slot' of flow 'confirm' is digits, not 'x'"
    assert api.request("POST", "/calls", {"to": "loopback/7001", "flow": "confirm",
                                          "vars": {"appointment": "Mon"}})[0] == 202
    fs.wait_for(lambda: len(fs.originated) == 1)
    assert fs.originated[0].dial == "loopback/7001"


# -- the engine: a token naming a flow callers dial routes nothing ---------------------------


def test_a_token_naming_an_inbound_flow_is_refused_and_the_call_routed_by_its_number(tmp_path, caplog):
    (tmp_path / "front.yaml").write_text(FRONT)
    (tmp_path / "desk.yaml").write_text(flow_text("desk", step='{playback: "desk.wav", next: bye}'))
    flows = load_flows(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="flowengine.flow"):
        call, fs, wire = place(flows, {call_token.VARIABLE: token(flow="desk", expires=time.time() + 60)})
    assert call.flow_name == "front"  # destination 7001
    assert "desk.wav" not in wire and not set(VALUES) & set(call.run.frames[0].vars)
    assert call_token.RESULT_VARIABLE not in fs.vars
    assert any("not honoured" in r.getMessage() and "direction: inbound" in r.getMessage() for r in caplog.records)


def test_an_outbound_flow_without_params_takes_no_variables_from_a_token(tmp_path, caplog):
    (tmp_path / "front.yaml").write_text(FRONT)
    (tmp_path / "bare.yaml").write_text(BARE)
    flows = load_flows(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="flowengine.flow"):
        call, fs, _ = place(flows, {call_token.VARIABLE: token(flow="bare")})
    assert call.flow_name == "bare"
    assert not set(VALUES) & set(call.run.frames[0].vars)
    assert any("has no parameter 'who'" in r.getMessage() for r in caplog.records)


# -- the docs' example ----------------------------------------------------------------------


@pytest.mark.parametrize("page", ["originate.md", "writing-flows.md"])
def test_the_docs_outbound_examples_pass_the_check_and_take_their_params(page):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    [reminder] = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "direction: outbound" in b]
    flow, errors, warnings = check(parse_source(reminder, f"docs/{page}"))
    assert errors == [] and warnings == [] and flow is not None
    assert flow.name == "reminder" and flow.originated and "appointment" in flow.params
    assert params_problems(flow, {}) == ["flow 'reminder' needs parameter 'appointment'"]
