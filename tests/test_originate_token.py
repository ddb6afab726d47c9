"""The token an originated call carries, and the routing by it: only an outbound call whose
token is signed with the engine's key, for that channel and not expired, runs the token's
flow with its variables; any other call carrying one is routed by its number."""

from __future__ import annotations

import logging
import re
import time

import pytest

from flowengine.call.flow_call import FlowCall
from flowengine.flows import load_flows
from flowengine.quoting.text import Text
from flowengine.runtime import call_token
from flowengine.runtime.call_token import Refused, TokenRefused
from flowengine.session import Timeouts
from flowengine.testing.memory import converse

from .originate_freeswitch import OriginatedChannel

KEY = b"k" * 32
UUID = "d9ef0471-ee7e-4b58-80d4-c55ef31290f7"
#: values originate's line and its {…} block would each change (blanks, ':', ',', quotes, ARRAY::)
VALUES = {
    "appointment": "2026-12-07T10:00",
    "who": "Dr. O'Brien, 3rd floor \"east\" \\ {x} [y] <z> ^^:",
    "list": "ARRAY::a|:b",
}
REMINDER = """name: reminder
direction: outbound
params: {appointment: {}, who: {}, list: {}}
start: keep
steps:
  keep:
    set: {seen_appointment: "${appointment}", seen_who: "${who}"}
    next: hello
  hello: {playback: "reminder.wav", next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""
FRONT = """name: front
numbers: ["7001"]
start: hi
steps:
  hi: {playback: "front.wav", next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


@pytest.fixture
def flows(tmp_path):
    (tmp_path / "reminder.yaml").write_text(REMINDER)
    (tmp_path / "front.yaml").write_text(FRONT)
    return load_flows(str(tmp_path))


def token(key: bytes = KEY, uuid: str = UUID, expires: float | None = None, flow: str = "reminder") -> str:
    return call_token.issue(key, flow, VALUES, uuid, time.time() + 60 if expires is None else expires)


def place(flows, variables: dict, *, key: bytes | None = KEY, inbound: bool = False, uuid: str = UUID):
    fs = OriginatedChannel(socket_data="127.0.0.1:9000 async full", destination="7001", uuid=uuid,
                           variables=variables)
    if inbound:  # a caller's call into the dialplan's socket, carrying the variable
        fs._channel = [(k, "inbound" if v == "outbound" else v) for k, v in fs._channel]
    call = FlowCall(lambda: flows, Timeouts(connect=5, reply=5, execute=60, drain=1), originate_key=key)
    sent: list[bytes] = []

    class Tap:
        def receive(self, data):
            sent.append(data)
            return fs.receive(data)

    converse(call, Tap())
    return call, fs, b"".join(sent).decode()


def test_a_token_carries_any_value_exactly_in_characters_no_freeswitch_pass_reads():
    text = token()
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", text)
    ticket = call_token.read(text, KEY, UUID, time.time())
    assert (ticket.flow, ticket.vars, ticket.uuid) == ("reminder", VALUES, UUID)
    assert all(type(v) is str for v in ticket.vars.values())
    assert ticket.nonce and ticket.nonce != call_token.read(token(), KEY, UUID, time.time()).nonce


@pytest.mark.parametrize("make,reason", [
    (lambda: token(key=b"x" * 32), Refused.SIGNATURE),
    (lambda: token(uuid="7cc8f9e4-bf93-423c-99ab-b6dcee3050c5"), Refused.CHANNEL),
    (lambda: token(expires=time.time() - 1), Refused.EXPIRED),
    (lambda: token().rpartition(".")[0], Refused.MALFORMED),
    (lambda: "2." + token().partition(".")[2], Refused.VERSION),
])
def test_a_token_not_signed_for_this_channel_or_expired_is_refused(make, reason):
    with pytest.raises(TokenRefused) as refused:
        call_token.read(make(), KEY, UUID, time.time())
    assert refused.value.reason is reason


def test_a_token_is_bounded_and_its_variables_must_be_names():
    with pytest.raises(call_token.TokenTooBig):
        call_token.issue(KEY, "reminder", {f"v{i}": "x" * 1000 for i in range(3)}, UUID, time.time() + 60)
    with pytest.raises(ValueError, match="letters, digits"):
        call_token.issue(KEY, "reminder", {"not a name": "x"}, UUID, time.time() + 60)


def test_an_originated_call_runs_the_tokens_flow_with_its_variables_as_call_data(flows):
    call, fs, wire = place(flows, {call_token.VARIABLE: token()})
    assert call.flow_name == "reminder"
    root = call.run.frames[0].vars
    assert {k: root[k] for k in VALUES} == VALUES
    assert all(not isinstance(root[k], Text) for k in VALUES)  # call data to every encoder
    assert fs.vars["seen_appointment"] == VALUES["appointment"] and fs.vars["seen_who"] == VALUES["who"]
    # how the flow ended is on the channel before its hangup (read from CHANNEL_HANGUP_COMPLETE)
    assert fs.vars[call_token.RESULT_VARIABLE] == "hangup"
    assert wire.index(f"uuid_setvar {UUID} {call_token.RESULT_VARIABLE} hangup") < wire.index("call-command: hangup")


@pytest.mark.parametrize("case", ["inbound", "copied", "forged", "expired", "no key"])
def test_a_call_whose_token_does_not_hold_is_routed_by_its_number_and_logged(flows, case, caplog):
    other = "7cc8f9e4-bf93-423c-99ab-b6dcee3050c5"
    text = {"copied": token(uuid=other), "forged": token(key=b"f" * 32),
            "expired": token(expires=time.time() - 5)}.get(case, token())
    with caplog.at_level(logging.WARNING, logger="flowengine.flow"):
        call, fs, wire = place(flows, {call_token.VARIABLE: text}, inbound=case == "inbound",
                               key=None if case == "no key" else KEY)
    assert call.flow_name == "front"
    assert "front.wav" in wire and "reminder.wav" not in wire
    assert "appointment" not in call.run.frames[0].vars
    assert call_token.RESULT_VARIABLE not in fs.vars
    assert any(call_token.VARIABLE in r.getMessage() and "not honoured" in r.getMessage() for r in caplog.records)


def test_a_call_without_a_token_is_routed_as_before_and_writes_no_result(flows, caplog):
    with caplog.at_level(logging.WARNING, logger="flowengine.flow"):
        call, fs, wire = place(flows, {})
    assert call.flow_name == "front" and "uuid_setvar" not in wire
    assert not caplog.records


CONFIRM = """name: confirm
direction: outbound
params:
  appointment: {type: string, required: true}
  slot: {type: digits, default: "1"}
start: keep
steps:
  keep: {set: {seen: "${appointment}/${slot}"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def test_a_flow_with_params_takes_only_those_from_the_token(tmp_path, caplog):
    (tmp_path / "confirm.yaml").write_text(CONFIRM)
    (tmp_path / "front.yaml").write_text(FRONT)
    flows = load_flows(str(tmp_path))
    text = call_token.issue(KEY, "confirm", {"appointment": "Mon 10:00", "intruder": "x"}, UUID, time.time() + 60)
    with caplog.at_level(logging.WARNING, logger="flowengine.flow"):
        call, fs, _ = place(flows, {call_token.VARIABLE: text})
    assert call.flow_name == "confirm"
    assert "intruder" not in call.run.frames[0].vars
    assert fs.vars["seen"] == "Mon 10:00/1"
    assert any("intruder" in r.getMessage() for r in caplog.records)


def test_params_problems_are_those_a_call_step_would_have():
    import pathlib
    import tempfile

    from flowengine.originate.params import params_problems
    with tempfile.TemporaryDirectory() as d:
        (pathlib.Path(d) / "confirm.yaml").write_text(CONFIRM)
        flow = load_flows(d).flows["confirm"]
    assert params_problems(flow, {"appointment": "x"}) == []
    assert params_problems(flow, {}) == ["flow 'confirm' needs parameter 'appointment'"]
    assert params_problems(flow, {"appointment": "x", "slot": "1a", "other": "y"}) == [
        "flow 'confirm' has no parameter 'other'", "parameter 'slot' of flow 'confirm' is digits, not '1a'"]
