"""The outbound session against recorded FreeSWITCH sessions, over real loopback sockets."""

from __future__ import annotations

import gc
import weakref
import pytest

from flowengine.call.lifecycle import refusal, setup
from flowengine.errors import CallGone, CommandFailed, CommandTimeout
from flowengine.esl import ApiResponse, Dtmf, Event, Reply
from flowengine.session import Timeouts

from .conftest import FIXTURE_NAMES
from .harness import gone_cause, run


#: recordings that are not one outbound session: the inbound connection that asks for a
#: call (tests/test_originate.py reads it)
NOT_SESSIONS = {"originate_inbound_control"}


@pytest.mark.parametrize("name", [name for name in FIXTURE_NAMES if name not in NOT_SESSIONS])
def test_every_recording_replays_to_its_end(name):
    outcome = run(name)
    if name == "originate_socket_unquoted_session":
        # the socket got "127.0.0.1:9000" alone: static, single-channel. The recording's client
        # asked for linger and was refused; a session that read the connect reply does not ask
        assert outcome.session.proto.control != "full"
        assert "the recording's next command is linger" in str(outcome.fake_error)
        return
    assert outcome.fake_error is None, outcome.fake_error
    if name == "any_application":
        # the application FreeSWITCH lacks hangs the caller up with no completion: the session
        # ends there, and the recorder's playback to the dead channel is never sent
        assert isinstance(outcome.error, CallGone) and outcome.error.cause == "DESTINATION_OUT_OF_ORDER"
        assert outcome.session.proto.finished and outcome.session._closed
        return
    assert outcome.replay.exhausted
    if name == "early_media_filter":
        # its filter hides CHANNEL_HANGUP_COMPLETE: only the drain timeout can end it
        assert outcome.session.proto.lingering and not outcome.session.proto.hangup_complete
    else:
        assert outcome.session.proto.finished
    assert outcome.session._closed


def by_app(outcome):
    return {r.application: r for r in outcome.results if isinstance(r, Event)}


def test_pagd_digit():
    outcome = run("pagd_digit")
    done = by_app(outcome)
    assert done["play_and_get_digits"].variable("choice") == "2"
    assert done["playback"].application_response == "FILE PLAYED"
    assert list(outcome.session.proto.dtmf) == [Dtmf("2", 2000, "APP")]
    assert gone_cause(outcome) == "NORMAL_CLEARING"   # the final hangup app
    assert outcome.session.channel.get("Caller-Destination-Number") == "1001"


def test_execute_waits_for_its_own_application_uuid():
    outcome = run("pagd_digit")
    for event in outcome.results:
        assert event.name == "CHANNEL_EXECUTE_COMPLETE"
    received = outcome.replay.received
    uuids = [c.header("Event-UUID") for c in received if c.word == "sendmsg"]
    assert [r.application_uuid for r in outcome.results] == uuids[:len(outcome.results)]
    assert len(set(uuids)) == len(uuids)


def test_bridge_busy_returns_to_the_flow():
    outcome = run("bridge_busy")
    done = by_app(outcome)
    assert done["bridge"].variable("originate_disposition") == "USER_BUSY"
    assert done["bridge"].variable("DIALSTATUS") == "BUSY"
    assert done["playback"].application_response == "FILE PLAYED"


def test_sync_mode():
    outcome = run("sync_mode")
    assert outcome.session.proto.socket_mode == "static"
    assert by_app(outcome)["playback"].application_response == "FILE PLAYED"
    assert gone_cause(outcome) == "NORMAL_CLEARING"
    assert outcome.session.proto.lingering and not outcome.session.proto.hangup_complete


@pytest.mark.parametrize("name,fmt", [("json_events", "json"), ("xml_events", "xml")])
def test_json_and_xml_sessions(name, fmt):
    outcome = run(name)
    assert {r.format for r in outcome.results} == {fmt}
    done = by_app(outcome)
    if name == "json_events":
        assert done["play_and_get_digits"].variable("choice") == "1"
        assert outcome.session.proto.dtmf[0].digit == "1"
    else:
        assert done["playback"].application_response == "FILE PLAYED"
    assert gone_cause(outcome) == "NORMAL_CLEARING"


def test_api_and_bgapi_over_the_call_socket():
    outcome = run("api_bgapi")
    uptime, missing, status, msleep = outcome.results[:4]
    assert uptime == "316\n"
    assert missing == "-ERR no_such_command Command not found!\n"
    assert status.name == "BACKGROUND_JOB" and status.body.startswith("UP 0 years")
    assert (msleep.get("Job-Command"), msleep.get("Job-Command-Arg"), msleep.body) == ("msleep", "200", "+OK")
    sent_jobs = [c.header("Job-UUID") for c in outcome.replay.received if c.word == "bgapi"]
    assert [status.job_uuid, msleep.job_uuid] == sent_jobs


def test_caller_hangup_during_playback():
    outcome = run("caller_hangup_during_playback")
    assert gone_cause(outcome) == "NORMAL_CLEARING"
    assert [r.application for r in outcome.results] == ["answer"]
    assert outcome.replay.received[-1].app == "playback"  # nothing sent after the hangup


def test_caller_hangup_no_linger():
    outcome = run("caller_hangup_no_linger")
    assert gone_cause(outcome) == "NORMAL_CLEARING"
    assert outcome.session.proto.closed and not outcome.session.proto.lingering
    assert [c.word for c in outcome.replay.received] == ["connect", "myevents", "sendmsg", "sendmsg"]


def test_bridge_fail_hangs_up_caller():
    outcome = run("bridge_fail_hangs_up_caller")
    assert gone_cause(outcome) == "NO_ROUTE_DESTINATION"
    assert outcome.replay.received[-1].app == "bridge"


def test_caller_hangup_during_pagd_carries_the_cause():
    outcome = run("caller_hangup_during_pagd")
    assert gone_cause(outcome) == "ORIGINATOR_CANCEL"


def test_variables_and_getvar():
    outcome = run("variables_and_hangup_cause")
    assert "sales" in outcome.results
    assert outcome.session.hangup_cause == "USER_BUSY"


def test_a_timed_out_wait_does_not_take_the_next_reply():
    """The app's completion is late; the next command must still get its own answer."""
    def script(session, results):
        session.execute("answer")
        with pytest.raises(CommandTimeout):
            session.execute("playback", "ivr/welcome.wav", timeout=0.0001)
        results.append(session.execute("hangup", "NORMAL_CLEARING"))

    outcome = run("answer_playback_hangup", script, pace=1.0)
    # the hangup's own completion never comes before CHANNEL_HANGUP, so the call is gone;
    # what matters is that the playback's late EXECUTE_COMPLETE did not answer it
    assert gone_cause(outcome) == "NORMAL_CLEARING"
    assert outcome.results == []
    assert outcome.fake_error is None and outcome.replay.exhausted


def test_every_wait_has_a_timeout():
    def script(session, results):
        session.execute("answer")
        results.append(session.next_dtmf(0.05))
        with pytest.raises(CommandTimeout):
            session.execute("playback", "ivr/welcome.wav", timeout=0.05)

    outcome = run("answer_playback_hangup", script, pace=1.0,
                  timeouts=Timeouts(drain=0.2, reply=5, connect=5))
    assert outcome.results == [None]
    assert outcome.error is None


def test_dtmf_wait_ends_with_the_call():
    def script(session, results):
        session.execute("answer")
        session.execute("play_and_get_digits",
                        r"1 1 3 3000 # ivr/menu.wav ivr/invalid.wav choice \d 2000", timeout=5)

    outcome = run("caller_hangup_during_pagd", script)
    with pytest.raises(CallGone):
        outcome.session.next_dtmf(1)


def test_a_finished_call_is_freed_at_once_not_by_the_garbage_collector():
    """With thousands of calls up, a full collection pauses them all for hundreds of ms:
    a call that ended must leave no reference loop behind (its CallGone was raised from
    the session's own frames)."""
    gc.collect()
    gc.disable()
    try:
        outcome = run("caller_hangup_during_playback")
        assert isinstance(outcome.error, CallGone)
        session = weakref.ref(outcome.session)
        del outcome
        assert session() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("control,linger,sent,refused", [
    ("full", True, [b"myevents\n\n", b"linger\n\n"], False),
    ("full", False, [b"myevents\n\n"], False),
    ("single-channel", True, [b"myevents\n\n"], True),     # FreeSWITCH refuses linger there
])
def test_every_driver_sets_a_call_up_by_one_rule(control, linger, sent, refused):
    plan = setup("plain", linger, control)
    assert list(plan.awaited) == sent and plan.unawaited == b"" and plan.linger_refused == refused
    nixed = setup("plain", linger, control, nixevent=True)  # the flow call's: fewer events, never waited for
    assert nixed.awaited == plan.awaited and nixed.unawaited.startswith(b"nixevent ") == (control == "full")
    assert nixed.data == b"".join(nixed.awaited) + nixed.unawaited


def test_a_refusal_is_a_command_reply_starting_with_err():
    refused = refusal("linger", Reply("-ERR not full control"))
    assert isinstance(refused, CommandFailed) and refused.reply == "-ERR not full control"
    assert refusal("linger", Reply("+OK will linger")) is None
    assert refusal("api status", ApiResponse("-ERR no such command")) is None  # an api's own output


def test_a_recording_made_with_argument_headers_replays_with_argument_bodies():
    """array_in_header sent its arguments as execute-app-arg, and FreeSWITCH ran
    ``ARRAY::INFO one element`` as ``INFO one element``. The session sends every argument as
    a body; the replay takes each for the recorded command whose argument FreeSWITCH read the
    same, and no other."""
    from flowengine.esl import commands
    from flowengine.replay.fake import ReplayFreeSwitch, ReplayMismatch
    from .conftest import load
    outcome = run("array_in_header")
    assert outcome.fake_error is None and outcome.replay.exhausted
    sent = [c for c in outcome.replay.received if c.word == "sendmsg" and c.header("call-command") == "execute"]
    assert sent and all(c.header("execute-app-arg") is None for c in sent)
    assert [c.app_arg for c in sent if c.app == "log"] == [
        "INFO one element", "ARRAY::INFO first|:INFO second", "INFO hdr_value is ${hdr_value}"]
    replay = ReplayFreeSwitch(load("array_in_header"))
    for out in load("array_in_header").chunks("out")[:4]:    # connect, myevents, linger, answer
        replay.receive(out)
    with pytest.raises(ReplayMismatch):                     # the text as sent is not what ran
        replay.receive(commands.execute("log", "ARRAY::INFO one element", event_uuid="e-1"))
