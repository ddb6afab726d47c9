"""FlowCall: a whole flow call as phases, driven by bytes and time alone (no socket)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowengine.call import UNREAD_EVENTS, Timeouts
from flowengine.call.connection import CLOSED, DRAIN, FLOW, HANGUP, RELEASE
from flowengine.call.flow_call import UNROUTED_CAUSE, FlowCall
from flowengine.errors import CommandTimeout, ProtocolError
from flowengine.esl import Event, Parser, commands
from flowengine.flows import load_flows
from flowengine.flows.flowset import FlowSet
from flowengine.replay.command_reader import CommandReader
from flowengine.replay.fake import ReplayFreeSwitch
from flowengine.testing.memory import converse
from flowengine.testing.scripted import ScriptedFreeSwitch

from .conftest import load
from .flowkit import flow_from

E2E = load_flows(Path(__file__).parent / "flows" / "e2e")
TIMEOUTS = Timeouts(connect=5, reply=5, execute=60, drain=2)


class Metrics:
    """Records, in order, what the call reports to the server's Prometheus metrics."""

    def __init__(self) -> None:
        self.ended, self.steps, self.attempts, self.errors = [], [], [], 0
        outer = self

        class _Counter:
            def inc(self) -> None:
                outer.errors += 1
        self.protocol_errors = _Counter()

    def call_ended(self, flow, result):
        self.ended.append((flow, result))

    def step(self, flow, step, kind, outcome, seconds):
        self.steps.append((flow, step, outcome))

    def attempt(self, flow, step, failure):
        self.attempts.append((flow, step, failure))


def flow_call(flows=E2E, **kw) -> FlowCall:
    return FlowCall(lambda: flows, kw.pop("timeouts", TIMEOUTS), run_options={"trace": True}, **kw)


class Tap:
    """A peer that keeps each write the call makes, then hands it on to ``peer``."""

    def __init__(self, peer) -> None:
        self.peer, self.writes = peer, []

    def receive(self, data):
        self.writes.append(data)
        return self.peer.receive(data)

    def words(self) -> list[str]:
        return [word for data in self.writes for word in sent_words(data)]


def sent_words(data: bytes) -> list[str]:
    """What each command is: an application with its argument, a set by api as
    ``uuid_setvar "name=value"``, else the command's word."""
    return [described(c) for c in CommandReader().feed(data)]


def described(c) -> str:
    if c.word == "sendmsg":
        return c.describe()
    setvar = c.setvar()
    return f'uuid_setvar "{setvar[1]}={setvar[2] or ""}"' if setvar else c.word


@pytest.mark.parametrize("name,outcomes", [
    ("answer_playback_hangup", [("answer", "done"), ("welcome", "played"), ("bye", "hangup")]),
    ("pagd_digit", [("answer", "done"), ("ask", "digits"), ("goodbye", "played"), ("bye", "hangup")]),
    ("pagd_timeout", [("answer", "done"), ("route", "when[0]"), ("quick", "timeout"), ("bye", "hangup")]),
    ("pagd_invalid_then_valid", [("answer", "done"), ("route", "else"), ("ask", "3"), ("bye", "hangup")]),
    ("caller_hangup_during_pagd", [("answer", "done"), ("ask", "hangup:ORIGINATOR_CANCEL")]),
    ("dtmf_stops_playback", [("answer", "done"), ("route", "else"), ("menu", "#"), ("bye", "hangup")]),
    ("playback_missing_file", [("answer", "done"), ("route", "when[0]"), ("missing", "not_found"),
                               ("bye", "hangup")]),
])
def test_recorded_calls_replay_through_every_phase(name, outcomes):
    replay = ReplayFreeSwitch(load(name))
    metrics = Metrics()
    call = flow_call(metrics=metrics)
    converse(call, replay)
    assert replay.exhausted                      # every recorded command, in order, nothing more
    assert call.closed and call.error is None and call.outcome == "ok"
    assert call.run.outcomes == outcomes
    assert metrics.ended == [(call.flow_name, call.run.result)]
    assert call.run.result == ("gone" if "hangup:" in outcomes[-1][1] else "hangup")
    uuid = Parser().feed(load(name).chunks("in")[0])[0].channel.unique_id
    assert call.proto.uuid == uuid and call.proto.hangup_event     # ended once FreeSWITCH told the cause


def test_connect_subscribes_and_lingers_in_one_write():
    call = flow_call()
    assert sent_words(call.start(0.0)) == ["connect"]
    out = call.receive(load("pagd_digit").chunks("in")[0], 0.1)
    assert sent_words(out) == ["myevents", "linger", "nixevent"]
    (nix,) = [c for c in CommandReader().feed(out) if c.word == "nixevent"]
    assert set(nix.line.split()[1:]) == set(UNREAD_EVENTS)
    assert not {"CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP"} & set(UNREAD_EVENTS)   # what a flow call reads
    assert {"DTMF", "CHANNEL_HANGUP_COMPLETE"} <= set(UNREAD_EVENTS)
    assert call.deadline == pytest.approx(0.1 + TIMEOUTS.reply)
    # the flow starts on the subscription's replies; nixevent's comes after, taken in order
    out = call.receive(b"Content-Type: command/reply\nReply-Text: +OK Events Enabled\n\n"
                       b"Content-Type: command/reply\nReply-Text: +OK will linger\n\n", 0.2)
    assert call.phase == FLOW and sent_words(out) == ['answer ""']
    call.receive(b"Content-Type: command/reply\nReply-Text: -ERR no keywords supplied\n\n", 0.3)
    assert call.phase == FLOW and call.error is None     # an old switch refusing it ends nothing


def test_nixed_events_no_longer_come_and_the_call_runs_the_same():
    scripted = ScriptedFreeSwitch(destination="1001", actions=[{"press": "2"}])
    names = []

    class Heard:  # the events FreeSWITCH sends back
        def receive(self, data):
            answers = scripted.receive(data)
            names.extend(m.name for _, chunk in answers for m in Parser().feed(chunk) if isinstance(m, Event))
            return answers

    call = flow_call()
    converse(call, Heard())
    assert call.run.outcomes == [("answer", "done"), ("ask", "digits"), ("goodbye", "played"), ("bye", "hangup")]
    assert "CHANNEL_EXECUTE" not in names and "CHANNEL_ANSWER" not in names
    assert not {"DTMF", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_STATE", "CHANNEL_UNPARK"} & set(names)
    assert {"CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP"} <= set(names)


def test_a_number_no_flow_serves_is_hung_up_unallocated():
    tap = Tap(ScriptedFreeSwitch(destination="9999"))
    metrics = Metrics()
    call = flow_call(metrics=metrics)
    converse(call, tap)
    assert tap.words() == ["connect", "myevents", "linger", "nixevent", "nixevent", f'hangup "{UNROUTED_CAUSE}"']
    assert b"nixevent CHANNEL_EXECUTE_COMPLETE\n\n" + commands.hangup(UNROUTED_CAUSE) in tap.writes[-1]
    assert metrics.ended == [("-", "unrouted")] and call.run is None
    assert call.closed and call.proto.hangup_event and call.proto.hangup_cause == UNROUTED_CAUSE


SET_THEN_PLAY = """
name: setplay
numbers: ["1000"]
start: welcome
steps:
  welcome: {playback: {files: ivr/welcome.wav, terminators: "#"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def test_set_up_applications_go_out_with_the_next_step_in_one_write():
    flow = flow_from(SET_THEN_PLAY)
    tap = Tap(ScriptedFreeSwitch(destination="1000"))
    call = flow_call(FlowSet({"setplay": flow}, default=flow))
    converse(call, tap)
    # the set-up goes by api (no application, no events) in the same write as the prompt
    assert ['uuid_setvar "playback_terminators=#"', 'playback "ivr/welcome.wav"'] in [sent_words(d) for d in tap.writes]
    assert f"api uuid_setvar {tap.peer.uuid} playback_terminators #".encode() in b"".join(tap.writes)
    assert tap.peer.vars["playback_terminators"] == "#"
    assert call.run.outcomes[-2:] == [("welcome", "played"), ("bye", "hangup")]
    assert call.closed and call.proto.hangup_event


TRANSFER = """
name: xfer
numbers: ["1000"]
start: go
steps:
  go: {set: {handed: "yes"}, next: away}
  away: {transfer: "2000 XML default"}
"""


def test_a_transfer_releases_the_call_and_never_hangs_it_up():
    flow = flow_from(TRANSFER)
    tap = Tap(ScriptedFreeSwitch(destination="1000"))
    call = flow_call(FlowSet({"xfer": flow}, default=flow))
    converse(call, tap)
    assert tap.words() == ["connect", "myevents", "linger", "nixevent", 'uuid_setvar "handed=yes"', 'transfer "2000 XML default"',
                      "exit"]
    assert call.released and call.run.result == "transfer" and call.closed


def test_shutdown_leaves_a_transferred_call_alone():
    flow = flow_from(TRANSFER)
    scripted = ScriptedFreeSwitch(destination="1000")
    call = flow_call(FlowSet({"xfer": flow}, default=flow))
    out = call.start(0.0)
    while call.phase != RELEASE:
        out = b"".join(call.receive(chunk, 0.0) for _, chunk in scripted.receive(out))
    assert sent_words(out) == ["exit"] and call.proto.gone is None
    assert call.request_hangup("SYSTEM_SHUTDOWN") == b""     # the dialplan has it now


def test_a_step_that_never_completes_times_out_into_the_error_path():
    call = flow_call()
    call.start(0.0)
    call.receive(load("answer_playback_hangup").chunks("in")[0], 0.0)
    call.receive(b"Content-Type: command/reply\nReply-Text: +OK Events Enabled\n\n"
                 b"Content-Type: command/reply\nReply-Text: +OK will linger\n\n", 0.0)
    assert call.phase == FLOW and call.deadline == pytest.approx(TIMEOUTS.execute)  # answer has no timeout
    assert call.expire(1.0) == b""                           # early: nothing happens
    out = call.expire(TIMEOUTS.execute)
    assert sent_words(out) == ["nixevent", 'hangup "NORMAL_TEMPORARY_FAILURE"']
    assert call.run.result == "error"
    again = call.expire(TIMEOUTS.execute + TIMEOUTS.reply)   # that hangup unanswered: one more, then read
    assert sent_words(again) == ["nixevent", 'hangup "NORMAL_CLEARING"'] and call.phase == HANGUP
    assert call.expire(TIMEOUTS.execute + 2 * TIMEOUTS.reply) == b"" and call.phase == DRAIN
    call.expire(TIMEOUTS.execute + 2 * TIMEOUTS.reply + TIMEOUTS.drain)
    assert call.closed and call.run.result == "error"


def test_a_connect_that_is_never_answered_closes_without_a_hangup():
    call = flow_call()
    call.start(0.0)
    assert call.expire(TIMEOUTS.connect) == b""
    assert call.closed and isinstance(call.error, CommandTimeout)


@pytest.mark.parametrize("garbage", [b"Content-Type: command/reply\nContent-Length: -5\n\n",
                                     b"no colon and no end " * 80000])
def test_malformed_bytes_end_the_call_at_once_and_are_counted(garbage):
    metrics = Metrics()
    call = flow_call(metrics=metrics)
    call.start(0.0)
    call.receive(load("pagd_digit").chunks("in")[0], 0.0)
    assert call.receive(garbage, 0.0) == b""
    assert call.phase == CLOSED and isinstance(call.error, ProtocolError)
    assert call.outcome.startswith("ProtocolError") and metrics.errors == 1


def test_the_call_can_be_cut_at_any_byte_and_always_closes():
    recorded = load("pagd_digit")
    total = len(recorded.inbound())
    for cut in range(0, total, 97):
        replay = ReplayFreeSwitch(recorded)
        call = flow_call()
        sent, budget = [0], cut

        class Cut:
            exhausted, peer_closes = False, False

            def receive(self, data):
                out = []
                for gap, chunk in replay.receive(data):
                    room = budget - sent[0]
                    if room <= 0:
                        break
                    out.append((gap, chunk[:room]))
                    sent[0] += len(out[-1][1])
                if sent[0] >= budget:
                    Cut.exhausted = Cut.peer_closes = True  # then the socket ends
                return out

        converse(call, Cut())
        assert call.closed, cut
        assert call.proto.closed or call.proto.hangup_event or call.error is not None, cut


HOLD = """
name: hold
numbers: ["1000"]
start: music
steps:
  music: {playback: ivr/hold.wav, next: music}
"""


def test_shutdown_asks_for_a_hangup_and_the_flow_sees_the_call_go():
    flow = flow_from(HOLD)
    scripted = ScriptedFreeSwitch(destination="1000")
    call = flow_call(FlowSet({"hold": flow}, default=flow))
    assert call.request_hangup("SYSTEM_SHUTDOWN") == b""      # no call set up yet: nothing to ask
    out = call.start(0.0)
    while call.phase != FLOW:
        out = b"".join(call.receive(chunk, 0.0) for _, chunk in scripted.receive(out))
    request = call.request_hangup("SYSTEM_SHUTDOWN")
    assert sent_words(request) == ['hangup "SYSTEM_SHUTDOWN"'] and b"call-command: hangup" in request
    for _, chunk in scripted.receive(request):
        call.receive(chunk, 0.5)
    assert call.proto.gone is not None and call.proto.hangup_cause == "SYSTEM_SHUTDOWN"
    assert call.run.result == "gone" and call.run.outcomes[-1] == ("music", "hangup:SYSTEM_SHUTDOWN")
    assert call.closed                                          # closed once CHANNEL_HANGUP told the cause
    assert call.request_hangup("SYSTEM_SHUTDOWN") == b""


def test_set_up_applications_are_not_waited_for_before_the_step_they_prepare():
    """The bridge's two ``set``s go out with the bridge, and this FreeSWITCH holds their
    completions back until the bridge has arrived: a driver that waited for each would
    time out instead of bridging."""
    flow = flow_from("""
name: b
numbers: ["1000"]
start: dial
steps:
  dial: {bridge: user/1001, on: {answered: bye}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""")
    scripted = ScriptedFreeSwitch(destination="1000", bridge={"user/1001": "answered"})
    held, writes = [], []

    class HoldsSets:
        def receive(self, data):
            answers = []  # the scripted FreeSWITCH answers each command in turn
            for raw in _commands(data):
                (command,) = CommandReader().feed(raw)
                answer = scripted.receive(raw)
                writes.append(described(command))
                if command.app == "set" or command.setvar() is not None:
                    held.extend(answer)
                    continue
                answers += held + answer
                held.clear()
            return answers

    call = flow_call(FlowSet({"b": flow}, default=flow))
    converse(call, HoldsSets())
    assert writes[4:7] == ['uuid_setvar "continue_on_fail=true"', 'uuid_setvar "hangup_after_bridge=false"', 'bridge "user/1001"']
    assert call.run.outcomes[0] == ("dial", "answered") and call.run.result == "hangup"


def _commands(data: bytes) -> list[bytes]:
    """Each command of a write, with its counted body (an application's argument)."""
    out, pos = [], 0
    while pos < len(data):
        end = data.index(b"\n\n", pos) + 2
        length = 0
        for line in data[pos:end].split(b"\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        out.append(data[pos:end + length])
        pos = end + length
    return out


def test_caller_values_with_newlines_never_make_lines():
    flow = flow_from("""
name: n
numbers: ["1000"]
start: s
steps:
  s: {set: {note: "${caller_id_name}"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""")
    name = "Eve\nsendmsg\ncall-command: hangup"
    # by api: the caller's line breaks arrive as spaces (no control character from the
    # call reaches FreeSWITCH), the value otherwise whole
    stored = "Eve sendmsg call-command: hangup"
    peer = ScriptedFreeSwitch(destination="1000", caller_name=name)
    tap = Tap(peer)
    converse(flow_call(FlowSet({"n": flow}, default=flow)), tap)
    commands = CommandReader().feed(b"".join(tap.writes))
    (note,) = [c for c in commands if c.setvar() is not None]
    assert note.setvar()[1:] == ("note", stored) and peer.vars["note"] == stored
    assert [c.header("call-command") for c in commands if c.word == "sendmsg"] == ["hangup"]
    # a value the api cannot carry (an expansion FreeSWITCH must make) goes by the
    # application, in a counted body: the caller's text still makes no command of its own
    tap = Tap(ScriptedFreeSwitch(destination="1000", caller_name=name + "${x}"))
    converse(flow_call(FlowSet({"n": flow}, default=flow)), tap)
    commands = CommandReader().feed(b"".join(tap.writes))
    (note,) = [c for c in commands if c.app == "set"]
    assert note.app_arg.startswith("note=" + stored)
    assert [k for k, _ in note.headers].count("call-command") == 1
    assert [c.header("call-command") for c in commands if c.word == "sendmsg"] == ["execute", "hangup"]
    assert commands[-1].header("hangup-cause") == "NORMAL_CLEARING"


def _in_flow(call: FlowCall, scripted) -> None:
    """Drive the call until its first step's command is out, its completion not yet in."""
    out = call.start(0.0)
    while call.phase != FLOW:
        out = b"".join(call.receive(chunk, 0.0) for _, chunk in scripted.receive(out))
    assert out and call.proto.gone is None


@pytest.mark.parametrize("cut,outcome", [
    (lambda call: call.receive(b"", 0.0), "lost: connection closed by FreeSWITCH"),
    (lambda call: call.lost("socket error: [Errno 104] Connection reset by peer", 0.0),
     "lost: socket error: [Errno 104] Connection reset by peer"),
])
def test_a_call_whose_connection_ends_before_a_hangup_is_lost_not_ok(cut, outcome):
    flow = flow_from(HOLD)
    metrics = Metrics()
    call = flow_call(FlowSet({"hold": flow}, default=flow), metrics=metrics)
    _in_flow(call, ScriptedFreeSwitch(destination="1000"))
    cut(call)
    assert call.closed and call.outcome == outcome
    assert metrics.steps == [("hold", "music", "gone")]        # the step's label: no cause from the wire


def test_a_hangup_then_the_socket_closing_is_a_call_that_ended_well():
    replay = ReplayFreeSwitch(load("caller_hangup_during_pagd"))
    metrics = Metrics()
    call = flow_call(metrics=metrics)
    converse(call, replay)
    assert call.outcome == "ok" and call.proto.heard
    assert metrics.steps[-1][1:] == ("ask", "gone")


def test_a_connection_that_sends_nothing_was_never_heard():
    call = flow_call()
    call.start(0.0)
    call.receive(b"", 0.0)
    assert call.closed and not call.proto.heard and call.outcome == "ok"


def test_a_menu_counts_each_failed_try_and_its_end():
    flow = flow_from("""
name: m
numbers: ["1000"]
start: menu
steps:
  menu:
    menu: {prompt: m.wav, attempts: 3, choices: {"1": bye}}
    on: {exhausted: bye}
  bye: {hangup: NORMAL_CLEARING}
""")
    metrics = Metrics()
    call = flow_call(FlowSet({"m": flow}, default=flow), metrics=metrics)
    converse(call, ScriptedFreeSwitch(destination="1000", actions=[{"press": "5"}, {"press": "7"}]))
    assert metrics.attempts == [("m", "menu", "invalid"), ("m", "menu", "invalid"), ("m", "menu", "no_input")]
    assert metrics.steps == [("m", "menu", "exhausted"), ("m", "bye", "hangup")]


def test_outcome_labels_are_the_flows_names_or_fixed_words_never_call_data():
    main = flow_from("""
name: main
numbers: ["1000"]
start: ask
steps:
  ask: {call: {flow: lookup}, on: {found: away}, next: away}
  away: {transfer: "2000 XML default"}
""")
    lookup = flow_from("""
name: lookup
params: {}
start: back
steps:
  back: {return: "${caller_id_name}"}
""")
    metrics = Metrics()
    call = flow_call(FlowSet({"main": main, "lookup": lookup}, default=main), metrics=metrics)
    converse(call, ScriptedFreeSwitch(destination="1000", caller_name="Mallory"))
    assert call.run.outcomes[:2] == [("back", "return:Mallory"), ("ask", "Mallory")]   # the log keeps it
    assert metrics.steps == [("lookup", "back", "return"), ("main", "ask", "other"),
                             ("main", "away", "transferred")]


