"""The interpreter, driven by completion events shaped like (or taken from) the recordings."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowengine.flows import load_flows
from flowengine.runtime.interpreter import Execute, Exit, FlowRun

from .flowkit import (CHANNEL, SUNDAY, Gone, complete, flow_from, pagd, play,
                      recorded, script)

ROOT = Path(__file__).resolve().parent.parent
FLOWS = load_flows(ROOT / "flows")
MAIN = FLOWS["main"]
MENU_ARGS = "1 1 1 5000 # {} silence_stream://250 menu_digits .* 3000"
FIRST = MENU_ARGS.format("ivr/ivr-please_choose_from_the_following.wav")
AGAIN = MENU_ARGS.format("ivr/ivr-please_reenter_your_selection.wav")


def apps(run):
    return [(a, b) for a, b in run.executed if a not in ("set",)]


def test_open_office_menu_1_bridges_to_sales_with_failover():
    run = play(MAIN, script(complete("answer"), complete("playback", response="FILE PLAYED"),
                            pagd("menu_digits", "1"), recorded("bridge_answered", "bridge")), flows=FLOWS)
    assert run.visited == ["welcome", "hours", "greeting", "menu", "sales", "goodbye"]
    assert run.executed == [
        ("answer", None), ("playback", "ivr/ivr-welcome_to_freeswitch.wav"), ("play_and_get_digits", FIRST),
        ("set", "continue_on_fail=true"), ("set", "hangup_after_bridge=false"),
        ("bridge", "[leg_timeout=20]user/1101|[leg_timeout=20]user/1102"), ("hangup", "NORMAL_CLEARING")]
    assert ("sales", "answered") in run.outcomes
    assert run.result == "hangup" and run.cause == "NORMAL_CLEARING"
    assert run.vars["bridge_hangup_cause"] == "NORMAL_CLEARING"


@pytest.mark.parametrize("fixture,outcome", [
    ("bridge_busy", "busy"), ("bridge_no_answer", "no_answer"), ("bridge_answered", "answered")])
def test_bridge_outcomes_from_the_recordings(fixture, outcome):
    run = play(MAIN, script(complete("answer"), complete("playback"), pagd("menu_digits", "2"),
                            recorded(fixture, "bridge")), flows=FLOWS)
    assert ("support", outcome) in run.outcomes
    assert run.visited[5] == ("goodbye" if outcome == "answered" else "sorry")


def test_menu_counts_attempts_and_uses_the_reprompt():
    run = play(MAIN, script(complete("answer"), complete("playback"),
                            pagd("menu_digits"),                       # silence
                            pagd("menu_digits", invalid="9"),          # wrong key (recorded shape)
                            pagd("menu_digits", "2"),
                            recorded("bridge_answered", "bridge")), flows=FLOWS)
    # each failure's notice ("I did not receive any input", "that was an invalid entry")
    # opens the next attempt's prompt: one application per attempt
    no_input = AGAIN.replace("ivr/ivr-please_reenter", "file_string://ivr/ivr-i_did_not_receive_any_input.wav!"
                                                       "ivr/ivr-please_reenter")
    invalid = AGAIN.replace("ivr/ivr-please_reenter", "file_string://ivr/ivr-that_was_an_invalid_entry.wav!"
                                                      "ivr/ivr-please_reenter")
    assert apps(run)[2:6] == [("play_and_get_digits", FIRST), ("play_and_get_digits", no_input),
                              ("play_and_get_digits", invalid), ("bridge", "[leg_timeout=30]user/1201")]
    assert ("menu", "2") in run.outcomes


def test_menu_exhausted_after_three_failures():
    run = play(MAIN, script(complete("answer"), complete("playback"),
                            pagd("menu_digits"), complete("playback"),
                            pagd("menu_digits", invalid="7"), complete("playback"),
                            pagd("menu_digits", "5")), flows=FLOWS)     # 5 is no choice
    assert ("menu", "exhausted") in run.outcomes
    assert run.visited[-1] == "goodbye"
    assert [a for a, _ in run.executed].count("play_and_get_digits") == 3


def test_menu_can_hand_failures_to_the_flow():
    flow = flow_from("""
name: m
start: menu
steps:
  menu:
    menu: {prompt: a.wav, choices: {"1": one}}
    on: {no_input: quiet, exhausted: bye}
  quiet: {playback: hello.wav, next: bye}
  one: {hangup: NORMAL_CLEARING}
  bye: {hangup: NORMAL_CLEARING}
""")
    run = play(flow, script(pagd("menu_digits")))
    assert run.visited == ["menu", "quiet", "bye"]


def test_after_hours_goes_to_the_message_subflow():
    run = play(MAIN, script(complete("answer"), complete("playback"), complete("playback"),
                            complete("playback"),
                            complete("record", record_ms="5200")), clock=SUNDAY, flows=FLOWS)
    assert run.visited == ["welcome", "hours", "closed", "message", "leave_message/prompt",
                           "leave_message/beep", "leave_message/record", "leave_message/thanks",
                           "leave_message/done", "goodbye"]
    record = next(arg for app, arg in run.executed if app == "record")
    assert record == f"${{recordings_dir}}/voicemail_1000_{CHANNEL.unique_id}.wav 120 200 3"
    assert run.outcomes[-3:] == [("done", "return:recorded"), ("message", "recorded"), ("goodbye", "hangup")]


def test_an_empty_recording_returns_empty():
    run = play(MAIN, script(complete("answer"), complete("playback"), complete("playback"),
                            complete("playback"), complete("record", record_ms="0")), clock=SUNDAY, flows=FLOWS)
    assert ("record", "empty") in run.outcomes and ("message", "empty") in run.outcomes


def test_holiday_is_closed_even_in_office_hours():
    from datetime import datetime, timezone
    christmas = datetime(2026, 12, 24, 10, 0, tzinfo=timezone.utc)  # a Thursday
    run = play(MAIN, script(complete("answer"), Gone("NORMAL_CLEARING")), clock=christmas, flows=FLOWS)
    assert run.visited == ["welcome", "hours", "closed"]
    assert run.result == "gone"


PAGD_FLOW = """
name: collect
start: ask
steps:
  ask:
    play_and_get_digits:
      prompt: ivr/menu.wav
      invalid: ivr/invalid.wav
      min: 1
      max: 1
      tries: 3
      timeout: 3000ms
      terminators: "#"
      variable: choice
      regexp: "[1-3]"
      digit_timeout: 2s
    on: {"3": three, "/^[12]$/": low, timeout: silent, invalid: wrong}
  three: {hangup: NORMAL_CLEARING}
  low: {hangup: NORMAL_CLEARING}
  silent: {hangup: NORMAL_CLEARING}
  wrong: {hangup: NORMAL_CLEARING}
"""


@pytest.mark.parametrize("fixture,visited", [
    ("pagd_invalid_then_valid", "three"),   # 9 then 3: both variables set
    ("pagd_all_invalid", "wrong"),          # read_result success, only choice_invalid
    ("pagd_timeout", "silent"),             # read_result failure
    ("pagd_digit", "low"),                  # 2
])
def test_play_and_get_digits_outcomes_from_the_recordings(fixture, visited):
    run = play(flow_from(PAGD_FLOW), script(recorded(fixture, "play_and_get_digits")))
    assert run.executed[0] == ("play_and_get_digits",
                               "1 1 3 3000 # ivr/menu.wav ivr/invalid.wav choice [1-3] 2000")
    assert run.visited == ["ask", visited]


PLAYBACK_FLOW = """
name: play
start: play
steps:
  play:
    playback: {files: [ivr/menu.wav, ivr/more.wav], terminators: "#"}
    on: {"#": stopped, not_found: missing}
    next: done
  stopped: {hangup: NORMAL_CLEARING}
  missing: {hangup: NORMAL_CLEARING}
  done: {hangup: NORMAL_CLEARING}
"""


@pytest.mark.parametrize("fixture,visited", [
    ("dtmf_stops_playback", "stopped"), ("playback_missing_file", "missing"), ("answer_playback_hangup", None)])
def test_playback_outcomes_from_the_recordings(fixture, visited):
    first = recorded(fixture, "playback")
    run = play(flow_from(PLAYBACK_FLOW), script(first, complete("playback", response="FILE PLAYED")))
    assert run.executed[0] == ("set", "playback_terminators=#")
    expected = ["play", visited or "done"]
    assert run.visited == expected
    if visited is None:
        assert [a for a in run.executed if a[0] == "playback"] == [("playback", "ivr/menu.wav"),
                                                                   ("playback", "ivr/more.wav")]


def test_caller_hangup_stops_the_flow_and_nothing_more_is_sent():
    run = play(flow_from(PAGD_FLOW), script(Gone("ORIGINATOR_CANCEL")))
    assert run.result == "gone" and run.cause == "ORIGINATOR_CANCEL"
    assert run.outcomes == [("ask", "hangup:ORIGINATOR_CANCEL")]
    assert run.resume(None) is None


def test_goto_with_max_leaves_the_loop():
    flow = flow_from("""
name: g
start: ask
steps:
  ask:
    playback: ivr/again.wav
    next: again
  again:
    goto: ask
    max: 2
    exceeded: bye
  bye: {hangup: NORMAL_CLEARING}
""")
    run = play(flow, script())
    assert run.visited == ["ask", "again", "ask", "again", "ask", "again", "bye"]


def test_runaway_loop_hits_the_budget_and_goes_to_on_error():
    flow = flow_from("""
name: r
start: a
max_transitions: 20
on_error: sorry
steps:
  a: {playback: x.wav, next: b}
  b: {playback: y.wav, next: a}
  sorry: {playback: ivr/error.wav, next: bye}
  bye: {hangup: NORMAL_TEMPORARY_FAILURE}
""")
    run = play(flow, script())
    assert run.visited[-2:] == ["sorry", "bye"] and run.transitions > 20
    assert run.result == "hangup" and run.cause == "NORMAL_TEMPORARY_FAILURE"


def test_an_internal_error_never_leaves_the_caller_in_silence():
    flow = flow_from("""
name: e
start: a
steps:
  a: {playback: x.wav, next: b}
  b: {hangup: NORMAL_CLEARING}
""")
    run = play(flow, lambda command: "not an event")     # a step breaks on what it receives
    assert run.result == "error"
    assert run.executed[-1] == ("hangup", "NORMAL_TEMPORARY_FAILURE")


def test_transfer_hands_the_call_off():
    flow = flow_from("""
name: x
start: t
steps:
  t: {transfer: {extension: "1000", dialplan: XML, context: default}}
""")
    from flowengine.runtime import FlowRun
    run = FlowRun(flow, channel=CHANNEL)
    assert run.start() == Execute("transfer", "1000 XML default")
    assert run.resume(complete("transfer")) == Exit("transfer")
    assert run.result == "transfer"


def test_say_sleep_set_export():
    flow = flow_from("""
name: s
start: a
steps:
  a:
    set: {language: en}
    export: {sip_h_X-Flow: s}
    next: b
  b: {sleep: 500ms, next: c}
  c: {say: {text: "${caller_id_number}", type: telephone_number, method: iterated}, next: d}
  d: {hangup: USER_BUSY}
""")
    run = play(flow, script())
    assert run.executed == [("set", "language=en"), ("export", "sip_h_X-Flow=s"), ("sleep", "500"),
                            ("say", "en telephone_number iterated 5551234"), ("hangup", "USER_BUSY")]
    assert run.cause == "USER_BUSY"


@pytest.mark.parametrize("name", sorted(n for n, f in FLOWS.flows.items()
                                        if not any(p.get("required") for p in f.params.values())))
def test_every_shipped_flow_runs_to_an_end(name):
    run = play(FLOWS[name], script(), flows=FLOWS)
    assert run.result in ("hangup", "transfer"), (run.result, run.outcomes)
    assert all(app != "hangup" or arg != "NORMAL_TEMPORARY_FAILURE" for app, arg in run.executed)


def test_example_collect_routes_by_pattern_and_reads_back():
    run = play(FLOWS["example_collect"], script(complete("answer"), pagd("account", "98765")), flows=FLOWS)
    assert run.visited == ["answer", "ask", "vip", "readback", "bye"]
    assert ("say", "en number iterated 98765") in run.executed
    assert run.executed[1] == ("play_and_get_digits", "4 6 3 5000 # ivr/ivr-please_enter_the.wav "
                                                      "ivr/ivr-that_was_an_invalid_entry.wav account ^\\d{4,6}$ 3000")


def test_example_bridge_dial_string():
    run = play(FLOWS["example_bridge"], script(complete("answer"), recorded("bridge_busy", "bridge")), flows=FLOWS)
    dial = next(arg for app, arg in run.executed if app == "bridge")
    assert dial == ("{origination_caller_id_number=+49301234567,origination_caller_id_name=Example GmbH}"
                    "[leg_timeout=25]user/1001|[leg_timeout=25]sofia/gateway/carrier/+4915112345678")
    assert run.visited[-2:] == ["busy", "bye"]


def test_bridge_targets_with_their_own_timeout_and_caller_id():
    flow = flow_from("""
name: b
start: ring
steps:
  ring:
    bridge:
      - {to: user/1001, timeout: 10s}
      - {to: "sofia/gateway/gw/${caller_id_number}", caller_id: {name: "Line, ${caller_id_name}"}}
      - user/1003
    timeout: 30s
    caller_id: {number: "+4930123"}
    next: bye
  bye: {hangup: NORMAL_CLEARING}
""")
    run = play(flow, script(recorded("bridge_no_answer", "bridge")))
    dial = next(arg for app, arg in run.executed if app == "bridge")
    assert dial == ("{origination_caller_id_number=+4930123}[leg_timeout=10]user/1001|"
                    "[leg_timeout=30,origination_caller_id_name=Line  Alice]sofia/gateway/gw/5551234|"
                    "[leg_timeout=30]user/1003")
    assert ("ring", "no_answer") in run.outcomes and run.vars["bridge_disposition"] == "NO_ANSWER"


def test_a_second_bridge_is_judged_on_its_own_disposition():
    flow = flow_from("""
name: two
start: first
steps:
  first: {bridge: user/1001, next: second}
  second:
    bridge: user/1002
    on: {answered: talked, busy: busy}
  talked: {hangup: NORMAL_CLEARING}
  busy: {hangup: NORMAL_CLEARING}
""")
    # after a connected bridge, FreeSWITCH keeps bridge_hangup_cause on the channel
    stale = complete("bridge", "user/1002", originate_disposition="USER_BUSY", DIALSTATUS="BUSY",
                     bridge_hangup_cause="NORMAL_CLEARING")
    run = play(flow, script(recorded("bridge_answered", "bridge"), stale))
    assert run.outcomes[:2] == [("first", "answered"), ("second", "busy")]
    assert run.vars["bridge_hangup_cause"] == ""


def test_a_live_run_keeps_nothing_per_step_however_long_it_loops():
    flow = flow_from("""
name: loop
start: a
max_transitions: 5000
steps:
  a: {sleep: 0, next: b}
  b: {goto: a}
""")
    run = FlowRun(flow, channel=CHANNEL, trace=False)
    command = run.start()
    while command.app == "sleep":
        command = run.resume(complete("sleep"))
    assert command.app == "hangup" and command.arg == "NORMAL_TEMPORARY_FAILURE"   # stopped as a loop
    assert run.transitions > 5000
    assert len(run.visited) == len(run.outcomes) == len(run.entered) == len(run.taken) == 0


def test_a_return_step_in_a_flow_routed_to_directly_ends_the_call():
    """A flow that other flows call may also serve a number: its `return` has no caller
    then, and the call ends there as at a flow's last step (it was an IndexError that ended
    the call as an internal error, also reachable with a forged failover checkpoint)."""
    flow = flow_from("""
name: callee
numbers: ["4000"]
start: hello
steps:
  hello: {playback: ivr/hello.wav, next: done}
  done: {return: finished}
""")
    run = play(flow, lambda c: complete(c.app, c.arg))
    assert run.executed[-1] == ("hangup", "NORMAL_CLEARING")
    assert run.result == "ended"
    assert run.outcomes[-1] == ("done", "return:finished")
