"""A flow call's phases: every move is in one table, and a move it does not hold raises."""

from __future__ import annotations

import itertools

import pytest

from flowengine.call import Timeouts
from flowengine.call.flow_call import FlowCall
from flowengine.call.phases import TRANSITIONS, Cue, IllegalMove, Phase, Then, move
from flowengine.flows.flowset import FlowSet
from flowengine.replay.fake import ReplayFreeSwitch
from flowengine.testing.memory import converse
from flowengine.testing.scripted import ScriptedFreeSwitch

from .conftest import load
from .flowkit import flow_from
from .test_flow_call import E2E, TRANSFER, flow_call

P, C = Phase, Cue
ENDINGS = {C.DRAINING: P.DRAIN, C.OVER: P.CLOSED, C.ABORTED: P.CLOSED}

#: the table as this test states it: a change to the machine is a change to both
EXPECTED = {
    P.CONNECT: {C.CONNECTED: P.SETUP, C.HANGING_UP: P.HANGUP, **ENDINGS},
    P.SETUP: {C.ROUTED: P.FLOW, C.HANGING_UP: P.HANGUP, **ENDINGS},
    P.FLOW: {C.EXITED: P.RELEASE, C.HANGING_UP: P.HANGUP, C.HANDED_OVER: P.CLOSED, **ENDINGS},
    P.RELEASE: ENDINGS,
    P.HANGUP: ENDINGS,
    P.DRAIN: {C.OVER: P.CLOSED, C.ABORTED: P.CLOSED},
    P.CLOSED: {C.ABORTED: P.CLOSED},
}


def test_the_table_holds_every_move_and_nothing_else():
    assert {phase: dict(moves) for phase, moves in TRANSITIONS.items()} == EXPECTED
    with pytest.raises(TypeError):     # read-only: no move is added at run time
        TRANSITIONS[P.CLOSED][C.ROUTED] = P.FLOW  # type: ignore[index]


@pytest.mark.parametrize("phase,cue", list(itertools.product(Phase, Cue)))
def test_each_phase_takes_exactly_its_cues(phase, cue):
    target = EXPECTED[phase].get(cue)
    if target is not None:
        assert move(phase, cue) is target
        return
    with pytest.raises(IllegalMove) as raised:
        move(phase, cue)
    message = str(raised.value)    # says where the call was, what it was asked and what it takes
    assert f"phase {phase.value!r}" in message and f"take {cue.value!r}" in message
    assert all(c.value in message for c in EXPECTED[phase])
    assert (raised.value.phase, raised.value.cue) == (phase, cue)


def test_an_illegal_move_leaves_the_call_where_it_was():
    call = flow_call()
    call.start(0.0)
    with pytest.raises(IllegalMove):
        call._move(Cue.EXITED)       # a call that is not yet set up has no flow to hand back
    assert call.phase is Phase.CONNECT and not call.closed


def phases_of(call: FlowCall, peer) -> list[Phase]:
    """The phases ``call`` goes through as ``peer`` answers it, each once, in order."""
    seen = [call.phase]

    class Watch:
        def __getattr__(self, name):
            return getattr(peer, name)

        def receive(self, data):
            if call.phase is not seen[-1]:
                seen.append(call.phase)
            return peer.receive(data)

    converse(call, Watch())
    if call.phase is not seen[-1]:
        seen.append(call.phase)
    return seen


@pytest.mark.parametrize("name,phases", [
    # the flow hangs up itself: nothing is left to hang up, and CHANNEL_HANGUP ends it
    ("answer_playback_hangup", [P.CONNECT, P.SETUP, P.FLOW, P.CLOSED]),
    # the caller hangs up: the flow ends, the call is already down
    ("caller_hangup_during_pagd", [P.CONNECT, P.SETUP, P.FLOW, P.CLOSED]),
])
def test_recorded_calls_go_through_the_phases_in_order(name, phases):
    assert phases_of(flow_call(), ReplayFreeSwitch(load(name))) == phases


def test_a_number_no_flow_serves_is_hung_up_from_set_up():
    call = flow_call()
    assert phases_of(call, ScriptedFreeSwitch(destination="9999")) == [P.CONNECT, P.SETUP, P.HANGUP, P.CLOSED]


def test_a_transfer_hands_the_call_back_through_release():
    flow = flow_from(TRANSFER)
    call = flow_call(FlowSet({"xfer": flow}, default=flow))
    phases = phases_of(call, ScriptedFreeSwitch(destination="1000"))
    assert phases == [P.CONNECT, P.SETUP, P.FLOW, P.RELEASE, P.CLOSED] and call.released


def test_a_connect_never_answered_closes_from_connect():
    call = FlowCall(lambda: E2E, Timeouts(connect=1))
    call.start(0.0)
    assert call.expire(1.0) == b"" and call.phase is P.CLOSED   # no channel: nothing to hang up or drain


def test_a_bug_found_after_the_close_still_aborts_without_a_move_error():
    call = flow_call()
    converse(call, ReplayFreeSwitch(load("answer_playback_hangup")))
    assert call.closed
    assert call.abort() == b"" and call.closed and call.outcome == "internal error"


def test_what_follows_a_write_is_one_enum_with_every_value_the_call_uses():
    assert {t.value for t in Then} == {"resume", "exit", "http", "answer", "end"}
