"""A set made by ``api uuid_setvar`` (no event reports it) is read by the flow as it was set,
until FreeSWITCH next reports the channel's variables: the steps after it see the new value,
with its call-data marks, so every encoder still applies (each case ran wrong before)."""

from __future__ import annotations

from flowengine.call import Timeouts
from flowengine.call.flow_call import FlowCall
from flowengine.flows.flowset import FlowSet
from flowengine.replay.command_reader import CommandReader
from flowengine.testing.memory import converse
from flowengine.testing.scripted import ScriptedFreeSwitch

from .flowkit import flow_from
from .freeswitch_model import chars, expand_passes, parse_dial_string
from .test_flow_call import Tap

TIMEOUTS = Timeouts(connect=5, reply=5, execute=60, drain=2)


def call_with(text: str, caller_name: str, **scripted) -> tuple[FlowCall, list]:
    flow = flow_from(text)
    tap = Tap(ScriptedFreeSwitch(destination="1000", caller_name=caller_name, **scripted))
    call = FlowCall(lambda: FlowSet({flow.name: flow}, default=flow), TIMEOUTS, run_options={"trace": True})
    converse(call, tap)
    return call, CommandReader().feed(b"".join(tap.writes))


def test_a_condition_right_after_a_set_reads_the_new_value():
    call, commands = call_with("""
name: s
numbers: ["1000"]
start: pick
steps:
  pick: {set: {lang: en}, next: check}
  check:
    when: [{if: {var: lang, equals: en}, goto: english}]
    else: other
  english: {playback: ivr/en/yes.wav, next: bye}
  other: {playback: ivr/no.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""", "Alice")
    assert any(c.setvar() and c.setvar()[1:] == ("lang", "en") for c in commands)
    assert ("check", "when[0]") in call.run.outcomes
    assert [c.app_arg for c in commands if c.app == "playback"] == ["ivr/en/yes.wav"]


def test_a_value_set_from_the_call_is_still_data_in_the_next_dial_string():
    call, commands = call_with("""
name: s
numbers: ["1000"]
start: keep
steps:
  keep: {set: {target_ext: "${caller_id_name}"}, next: dial}
  dial: {bridge: "user/${target_ext}", on: {answered: bye}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""", "1001,sofia/gateway/premium/19005550100")
    for c in commands:
        if c.app == "bridge":   # whatever went out rings one target, never the premium gateway
            assert len(parse_dial_string(chars(c.app_arg, "sent")).legs) == 1, c.app_arg
    assert "premium" not in " ".join(c.app_arg for c in commands if c.app == "bridge")
    assert call.run.result == "error" or not [c for c in commands if c.app == "bridge"]


def test_two_values_set_from_the_call_joined_in_a_third_set_run_no_api():
    call, commands = call_with("""
name: s
numbers: ["1000"]
start: halves
steps:
  halves: {set: {fa: "${caller_id_name:0:1}", fb: "${caller_id_name:1}"}, next: join}
  join: {set: {greeting: "${fa}${fb}"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""", "${system touch /tmp/pwned}")
    for c in commands:
        if c.app == "set":
            _, found = expand_passes(chars(c.app_arg, "sent"), 2, lambda name: None)
            assert not [e for e in found if e.kind == "api"], c.app_arg
        assert "${fa}" not in c.line + c.app_arg
    # and FreeSWITCH ends with the caller's text as the variable's value, not its effect
    assert call.run.result == "hangup"


def test_a_set_freeswitch_did_not_make_is_the_steps_error():
    """uuid_setvar answers +OK or why it set nothing (mod_commands.c): the flow's on_error
    runs, as for a refused application — from the step running when the answer comes (the
    set itself went on without waiting; FreeSWITCH refuses one only for a channel it no
    longer has)."""
    from flowengine.esl.serialize import api_response

    class Refuses(ScriptedFreeSwitch):
        def _setvar(self, args):
            return api_response("-ERR No such channel!\n")

    flow = flow_from("""
name: s
numbers: ["1000"]
start: note
on_error: sorry
steps:
  note: {set: {note: hello}, next: bye}
  sorry: {playback: ivr/sorry.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""")
    call = FlowCall(lambda: FlowSet({flow.name: flow}, default=flow), TIMEOUTS, run_options={"trace": True})
    converse(call, Refuses(destination="1000"))
    assert call.run.visited[:3] == ["note", "bye", "sorry"], call.run.visited
    assert call.run.outcomes[0] == ("note", "done")


def test_a_profile_name_set_by_the_flow_reads_the_same_before_and_after_the_next_event():
    """FreeSWITCH reads ${caller_id_name} from a channel variable of that name first, then
    from the caller profile (switch_channel_get_variable_dup): so does the flow, whether the
    set is still unreported or an event has shown it since."""
    call, commands = call_with("""
name: s
numbers: ["1000"]
start: rename
steps:
  rename: {set: {caller_id_name: Bob}, next: first}
  first: {playback: "ivr/${caller_id_name}.wav", next: second}
  second: {playback: "ivr/${caller_id_name}.wav", next: bye}
  bye: {hangup: NORMAL_CLEARING}
""", "Alice")
    assert [c.app_arg for c in commands if c.app == "playback"] == ["ivr/Bob.wav", "ivr/Bob.wav"]
