"""What a flow call holds while it waits and after it ends: one copy of the channel data,
and nothing a garbage collection would have to free (10,000 calls share one process)."""

from __future__ import annotations

import gc
import sys

import pytest

from flowengine.call.flow_call import FlowCall
from flowengine.errors import ProtocolError
from flowengine.esl import Event, Parser
from flowengine.flows.flowset import FlowSet
from flowengine.replay.command_reader import CommandReader
from flowengine.testing.memory import converse
from flowengine.testing.scripted import ScriptedFreeSwitch

from .conftest import load
from .flowkit import flow_from
from .test_flow_call import flow_call


def test_a_call_waiting_in_a_step_keeps_one_copy_of_its_channel_data():
    """With 10,000 calls up each copy is ~4 KB: once a completion carrying the whole
    channel has come, the connect block must be garbage (nothing in the call or its run
    still holding it)."""
    flow = flow_from("""
name: w
numbers: ["1000"]
start: a
steps:
  a: {answer: null, next: b}
  b: {playback: "${caller_id_number}.wav"}
""")
    recorded = load("answer_playback_hangup")
    uuid = "bb05c26f-fd4e-49f8-842c-a306cad233fa"
    completion = next(m for m in Parser().feed(recorded.inbound())
                      if isinstance(m, Event) and m.name == "CHANNEL_EXECUTE_COMPLETE")

    def connect_blocks():
        return sum(1 for o in gc.get_objects()
                   if isinstance(o, Event) and o.name == "CHANNEL_DATA" and o.unique_id == uuid)

    before, seen = connect_blocks(), {}

    class Peer:
        def receive(self, data):
            out = []
            for command in CommandReader().feed(data):
                if command.word == "connect":
                    out.append((0.0, recorded.chunks("in")[0]))
                elif command.word == "sendmsg" and command.header("call-command") == "hangup":
                    seen["hangup", command.header("hangup-cause")] = connect_blocks() - before
                    out.append((0.0, b"Content-Type: command/reply\nReply-Text: +OK\n\n"))
                elif command.word == "sendmsg":
                    seen[command.app, command.app_arg] = connect_blocks() - before
                    body = completion._raw.replace(completion.application_uuid.encode(),
                                                   command.header("Event-UUID").encode())
                    out.append((0.0, b"Content-Type: command/reply\nReply-Text: +OK\n\n"
                                + b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body))
                else:
                    out.append((0.0, b"Content-Type: command/reply\nReply-Text: +OK\n\n"))
            return out

    converse(flow_call(FlowSet({"w": flow}, default=flow)), Peer())
    assert seen == {("answer", ""): 1, ("playback", "5551234.wav"): 0, ("hangup", "NORMAL_CLEARING"): 0}


@pytest.mark.parametrize("garbage", [b"Content-Type: command/reply\nContent-Length: -5\n\n", None])
def test_a_call_that_ends_on_an_error_is_freed_at_once_not_by_the_garbage_collector(garbage):
    """The error is kept for the call's summary; raised on the way, its traceback would
    hold the call's frames, and they the call."""
    flow = flow_from("""
name: u
numbers: ["1000"]
start: s
steps:
  s: {playback: "${caller_id_name}", next: bye}
  bye: {hangup: NORMAL_CLEARING}
""")
    flows = FlowSet({"u": flow}, default=flow)
    gc.collect()
    gc.disable()
    try:
        if garbage is not None:   # bytes that are not the protocol
            call = flow_call()
            call.start(0.0)
            call.receive(load("pagd_digit").chunks("in")[0], 0.0)
            call.receive(garbage, 0.0)
            assert isinstance(call.error, ProtocolError)
        else:                     # a caller ID FreeSWITCH would cut short: UnsafeValue
            call = flow_call(flows)
            converse(call, ScriptedFreeSwitch(destination="1000", caller_name="x\0y"))
            assert call.run.result == "error"
        assert call.closed
        del call
        assert [o for o in gc.get_objects() if isinstance(o, FlowCall)] == []
    finally:
        gc.enable()


def test_a_flow_call_is_small_and_holds_an_http_wait_or_a_checkpointer_only_when_it_needs_one():
    """10,000 calls held at once: each slot of a call is 8 bytes times 10,000, and what
    only some calls use (an HTTP request, failover) is an object made when they do."""
    from flowengine.call.failover import Checkpointer
    from flowengine.call.http_wait import PendingRequest
    from flowengine.replay.fake import ReplayFreeSwitch

    def alive(kind):
        return sum(1 for o in gc.get_objects() if isinstance(o, kind))

    before = alive(PendingRequest), alive(Checkpointer)
    call = flow_call()
    assert sys.getsizeof(call) <= 216    # header and GC link (32 bytes), at most 23 slots
    converse(call, ReplayFreeSwitch(load("answer_playback_hangup")))
    assert call.closed and (alive(PendingRequest), alive(Checkpointer)) == before
    kept = flow_call(failover=True)
    assert alive(Checkpointer) == before[1] + 1 and kept.closed is False


def test_calls_from_one_host_share_its_core_uuid():
    """Each call keeps its host's Core-UUID to ask what the host has: one string for all."""
    from flowengine.replay.fake import ReplayFreeSwitch

    first, second = flow_call(), flow_call()
    converse(first, ReplayFreeSwitch(load("answer_playback_hangup")))
    converse(second, ReplayFreeSwitch(load("answer_playback_hangup")))
    assert first.core and first.core == second.core and first.core is second.core
