"""What a flow reads of the call: caller values and channel variables, in conditions and
templates, and which copy of the channel data answers them."""

from __future__ import annotations

from flowengine.esl import Event
from flowengine.runtime import FlowRun

from .flowkit import CHANNEL, complete, flow_from, play, recorded, script


def test_conditions_on_caller_variables_and_destination():
    flow = flow_from("""
name: c
start: route
vars: {tier: gold}
steps:
  route:
    when:
      - if: {caller: ["5550000", "/^555/"], var: tier, equals: gold}
        goto: vip
      - if: {destination: "2000-2999"}
        goto: other
    else: normal
  vip: {hangup: NORMAL_CLEARING}
  other: {hangup: NORMAL_CLEARING}
  normal: {hangup: NORMAL_CLEARING}
""")
    assert play(flow, script()).visited == ["route", "vip"]   # caller 5551234


def test_templates_expand_and_caller_values_cannot_reach_freeswitch_expansion():
    hostile = Event.from_plain(b"Event-Name: CHANNEL_DATA\nUnique-ID: u-1\n"
                               b"Caller-Caller-ID-Name: $%7Bsystem(rm%20-rf%20/)%7D\n"
                               b"Caller-Caller-ID-Number: 5551234\nCaller-Destination-Number: 1000\n\n")
    flow = flow_from("""
name: t
start: s
steps:
  s:
    set: {who: "${caller_id_name} <${caller_id_number}> to ${destination_number} ${sound_prefix}"}
    vars: {n: "${caller_id_number}"}
    next: bye
  bye: {hangup: NORMAL_CLEARING}
""")
    run = play(flow, script(), channel=hostile)
    assert run.executed[0] == ("set", "who=$ {system(rm -rf /)} <5551234> to 1000 ${sound_prefix}")
    assert run.vars["n"] == "5551234"


def test_templates_read_channel_variables_either_way():
    flow = flow_from("""
name: v
start: s
steps:
  s: {vars: {a: "${call_uuid}", b: "${variable_call_uuid}", c: "${nobody_knows}"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""")
    run = play(flow, script())
    assert run.vars["a"] == run.vars["b"] == CHANNEL.unique_id
    assert run.vars["c"] == "${nobody_knows}"   # left for FreeSWITCH


def test_the_newest_channel_data_replaces_the_connect_copy_and_answers_lookups():
    """A completion that carries the whole channel stands for it (one copy per call, not
    two); a bare one, as flow tests write them, leaves the connect data in place."""
    flow = flow_from("""
name: v
start: a
steps:
  a: {playback: one.wav, next: b}
  b: {playback: "${caller_id_number}-${sound_prefix}-${uuid}.wav", next: c}
  c: {playback: "${caller_id_name}.wav"}
""")
    run = FlowRun(flow, channel=CHANNEL)
    assert run.start().app == "playback"
    bare = complete("playback", "one.wav", "FILE PLAYED")
    second = run.resume(bare)
    assert run.channel is CHANNEL and run.last_event is bare
    assert second.arg == f"5551234-/usr/share/freeswitch/sounds/en/us/callie-{CHANNEL.unique_id}.wav"
    full = recorded("answer_playback_hangup", "playback")
    third = run.resume(full)
    assert run.channel is full and run.last_event is full
    assert third.arg == "Alice.wav"
