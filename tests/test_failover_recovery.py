"""Failover keeps what the caller did while the dying host's application ran.

FreeSWITCH does not interrupt the application running when the host holding the call dies:
it runs to its end, then the dialplan's next ``socket`` connects to the next host with every
channel variable in the connect data. A digit collection's result (its own variable per
attempt), a recording's (``record_ms``, unset ahead of it) and a bridge's are read from
there instead of asking, recording or dialling again. Real run.py processes on loopback
and the scripted FreeSWITCH of tests/test_failover.py."""

from __future__ import annotations

import json
import re
import signal

import pytest

from flowengine.flows import load_flows
from flowengine.quoting.opaque import opaque, unopaque
from flowengine.runtime import after_crash, checkpoint

from .test_failover import Dialplan, menus, played, write_flows


def result_variables(commands: list[str]) -> list[str]:
    """The variable each play_and_get_digits was told to write its digits into."""
    return [c.split(" ")[8] for c in commands if c.startswith("play_and_get_digits ")]


def hosts(server, tmp_path, n: int = 2):
    return [server("--flows", str(tmp_path), "--failover") for _ in range(n)]


def test_a_key_pressed_while_the_dying_hosts_menu_ran_is_taken_not_asked_for_again(server, tmp_path):
    write_flows(tmp_path)
    first, second = hosts(server, tmp_path)
    # the caller presses 1 once, during the menu the first host is running when it dies
    call = Dialplan([first.port, second.port], hold=("play_and_get_digits", 1), caller="5551234",
                    actions=[{"press": "1"}])
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)
    before, after = call.result()
    (variable,) = result_variables(before)
    assert re.fullmatch(r"flowengine_[0-9a-f]{6}_1", variable)   # the attempt's own, not menu_digits
    assert menus(after) == []                                      # not asked again
    assert played(after) == ["one-5551234.wav"]                    # the choice the key made
    assert "after its play_and_get_digits (its result read from the channel)" in \
        second.wait_for("resumed from its checkpoint")


def test_an_attempt_in_which_nothing_was_pressed_is_asked_again_not_counted(server, tmp_path):
    """read_result (failure) is FreeSWITCH's own name, left by any earlier read too: it
    alone is no proof of this attempt's end, so the attempt runs again, not as a no_input."""
    write_flows(tmp_path)
    first, second = hosts(server, tmp_path)
    call = Dialplan([first.port, second.port], hold=("play_and_get_digits", 1),
                    actions=[{"silence": True}, {"press": "1"}])
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)
    before, after = call.result()
    assert menus(after) == ["main.wav"]                # the same first attempt, its own prompt
    assert played(after) == ["one-5551234.wav"]
    assert result_variables(after)[0] != result_variables(before)[0]   # a fresh variable
    assert "after its" not in second.wait_for("resumed from its checkpoint")


def forged(state: dict) -> str:
    return "1." + opaque(json.dumps(state).encode())


@pytest.mark.parametrize("left, taken", [
    ("flowengine_abcdef_1", False),     # an earlier attempt's: never this one's
    ("flowengine_abcdef_2", True),      # the checkpointed attempt's own
    ("flowengine_123456_2", False),     # another run's (another nonce) of the same number
    ("menu_digits", False),             # the author's name, left by anything
])
def test_only_the_checkpointed_attempts_own_variable_is_taken_as_its_result(server, tmp_path, left, taken):
    write_flows(tmp_path)
    flows = load_flows(str(tmp_path))
    (host,) = hosts(server, tmp_path, 1)
    text = forged({"d": flows.digest, "f": [["failover", "main", {"account": "42"}]],
                   "w": "play_and_get_digits", "a": ["abcdef", 2]})
    call = Dialplan([host.port], variables={checkpoint.VARIABLE: text, left: "1"}, actions=[{"press": "3"}],
                    bridge={"user/1001": "busy"})
    (commands,) = call.result()
    if taken:
        assert menus(commands) == [] and played(commands) == ["one-42.wav"]
    else:   # asked again, into a variable no attempt has used: the caller's 3 is the answer
        assert menus(commands) == ["main.wav"] and result_variables(commands) == ["flowengine_abcdef_3"]
        assert [c for c in commands if c.startswith("bridge ")] == ['bridge "user/1001"']


DIGITS = """\
name: account
numbers: ["4000"]
start: hello
steps:
  hello: {answer: {}, next: ask}
  ask:
    play_and_get_digits: {prompt: account.wav, min: 4, max: 4, tries: 1, variable: account, regexp: "^1"}
    on: {invalid: bad, timeout: none}
    next: known
  known: {playback: "acct-${account}.wav", next: bye}
  bad: {playback: "bad-${account_invalid}.wav", next: bye}
  none: {playback: none.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


@pytest.mark.parametrize("pressed, heard", [("1234", "acct-1234.wav"), ("2345", "bad-2345.wav")])
def test_the_digits_of_a_dying_hosts_play_and_get_digits_are_its_variables_on_the_next(server, tmp_path,
                                                                                        pressed, heard):
    """The flow reads ``${account}`` and ``${account_invalid}`` as written, whatever the
    attempt's own variable was: valid digits and a regexp's refusal both come across."""
    (tmp_path / "account.yaml").write_text(DIGITS)
    first, second = hosts(server, tmp_path)
    call = Dialplan([first.port, second.port], hold=("play_and_get_digits", 1), actions=[{"press": pressed}])
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)
    _, after = call.result()
    assert menus(after) == [] and played(after) == [heard]


@pytest.mark.parametrize("now", [
    {"min: 4, max: 4": "min: 6, max: 6"},       # a longer PIN: 1234 is too short
    {"min: 4, max: 4": "min: 2, max: 3"},       # a shorter one: 1234 is too long
    {'regexp: "^1"': 'regexp: "^9"'},           # another range of accounts
])
def test_recovered_digits_are_checked_against_the_step_as_a_reload_left_it(server, tmp_path, now):
    """The dying host's play_and_get_digits read 1234 under its rules (min 4, max 4,
    ^1); the next host was reloaded with other rules for the step: the recovered digits
    are a wrong entry there (``invalid``), as FreeSWITCH would have made them under the
    rules that host sends, never ``${account}``."""
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "account.yaml").write_text(DIGITS)
    text = DIGITS
    for before, after in now.items():
        text = text.replace(before, after)
    (new / "account.yaml").write_text(text)
    first = server("--flows", str(old), "--failover")
    second = server("--flows", str(new), "--failover")
    call = Dialplan([first.port, second.port], hold=("play_and_get_digits", 1), actions=[{"press": "1234"}])
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)
    _, after = call.result()
    assert result_variables(after) == []                 # not asked again: the entry was made
    assert played(after) == ["bad-1234.wav"]             # ${account_invalid}, as a refused entry


MENU = """\
name: menu
numbers: ["4000"]
start: hello
steps:
  hello: {answer: {}, next: pick}
  pick:
    menu: {prompt: pick.wav, invalid: wrong.wav, max_digits: %d, choices: {"/^[0-9]+$/": chosen}}
    on: {exhausted: bye}
  chosen: {playback: "chosen-${digits}.wav", next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def test_a_recovered_menu_key_the_reloaded_menu_would_not_read_is_a_wrong_key(server, tmp_path):
    """The dying host's menu read 1234 (max_digits 4); the next host's menu reads at most
    2 digits: the recovered attempt is a failed one (invalid), and the next is asked."""
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "menu.yaml").write_text(MENU % 4)
    (new / "menu.yaml").write_text(MENU % 2)
    first = server("--flows", str(old), "--failover")
    second = server("--flows", str(new), "--failover")
    call = Dialplan([first.port, second.port], hold=("play_and_get_digits", 1),
                    actions=[{"press": "1234"}, {"press": "12"}])
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)
    before, after = call.result()
    assert menus(after) == ["file_string://wrong.wav!pick.wav"]   # the wrong key's notice, then again
    assert result_variables(after)[0] != result_variables(before)[0]
    assert played(after) == ["chosen-12.wav"]


RECORD = """\
name: message
numbers: ["4000"]
start: hello
steps:
  hello: {answer: {}, next: rec}
  rec:
    record: {file: "${recordings_dir}/msg-${caller_id_number}.wav", max_seconds: 60}
    on: {recorded: thanks, empty: nothing}
  thanks: {playback: "thanks-${recording_ms}.wav", next: bye}
  nothing: {playback: nothing.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


@pytest.mark.parametrize("record_ms, heard", [(4000, "thanks-4000.wav"), (0, "nothing.wav")])
def test_a_recording_running_when_its_host_died_is_not_made_again(server, tmp_path, record_ms, heard):
    (tmp_path / "message.yaml").write_text(RECORD)
    first, second = hosts(server, tmp_path)
    call = Dialplan([first.port, second.port], hold=('record "', 1), caller="5551234", record_ms=record_ms)
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)
    before, after = call.result()
    at = next(n for n, c in enumerate(before) if c.startswith("record "))
    # record_ms unset ahead of it, in its write: what the next host finds is this recording's
    assert before[at - 2] == f"api uuid_setvar {call.fs.uuid} record_ms"
    assert before[at - 1].startswith(f"api uuid_setvar {call.fs.uuid} {checkpoint.VARIABLE} 1.")
    assert not any(c.startswith("record ") for c in after)
    assert played(after) == [heard]
    assert "after its record" in second.wait_for("resumed from its checkpoint")


def test_a_recording_whose_end_the_channel_does_not_show_is_made_again(server, tmp_path):
    (tmp_path / "message.yaml").write_text(RECORD)
    flows = load_flows(str(tmp_path))
    (host,) = hosts(server, tmp_path, 1)
    call = Dialplan([host.port], caller="5551234",
                    variables={checkpoint.VARIABLE: forged({"d": flows.digest, "f": [["message", "rec", {}]],
                                                             "w": "record"})})
    (commands,) = call.result()
    assert [c for c in commands if c.startswith("record ")] == ['record "${recordings_dir}/msg-5551234.wav 60 200 3"']


@pytest.mark.parametrize("attempts", [["ABCDEF", 1], ["abcdef", -1], ["abc", 1], ["abcdef_1 x", 1], "abcdef",
                                      ["abcdef", 1, 2]])
def test_a_forged_attempt_counter_is_refused(tmp_path, attempts):
    """A result variable's name is made of the nonce and the count, never read from the
    checkpoint: one that could spell another name is refused."""
    write_flows(tmp_path)
    flows = load_flows(str(tmp_path))
    text = forged({"d": flows.digest, "f": [["failover", "main", {}]], "a": attempts})
    with pytest.raises(checkpoint.NotResumable) as caught:
        checkpoint.restore(text, flows, flows.flows["failover"])
    assert caught.value.reason is checkpoint.Refused.MALFORMED


def test_the_operations_page_says_what_each_kind_keeps_as_the_kinds_declare_it():
    text = after_crash.PAGE.read_text(encoding="utf-8")
    assert after_crash.written(text) == text, "run: python3 -m flowengine.runtime.after_crash"
    table = after_crash.table()
    for kind, word in (("menu", "**kept**"), ("play_and_get_digits", "**kept**"), ("record", "**kept**"),
                       ("bridge", "**kept**"), ("queue", "**runs again**"), ("http", "**lost**")):
        assert re.search(rf"^\| `{kind}` \| {re.escape(word)}", table, re.M), kind
    assert "its result is lost" not in text


def test_an_engine_of_the_version_before_runs_a_pending_digit_collection_again_rather_than_refuse_it(tmp_path):
    """During a deploy the next host may be of the version before, which knew ``s`` (a
    bridge's, always taken) and refused a checkpoint whose ``s`` its step does not run: a
    pending digit collection or recording goes under a key of its own, ``w``, which such an
    engine ignores (it asks again, as it always did)."""
    from flowengine.flows.steps import attempts
    from flowengine.runtime.interpreter import FlowRun

    write_flows(tmp_path)
    flows = load_flows(str(tmp_path))
    run = FlowRun(flows.flows["failover"], flows=flows)
    run.call_state[attempts.KEY] = attempts.Attempts("abcdef")
    command = run.start()
    while command.app != "play_and_get_digits":
        command = run.resume(None)
    state = json.loads(unopaque(checkpoint.capture(run, flows.digest, command.app)[2:], 4096))
    assert state["w"] == "play_and_get_digits" and "s" not in state and state["a"] == ["abcdef", 1]
