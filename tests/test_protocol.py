"""Call state without I/O: reply order, execute matching, hangup, DTMF."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowengine.errors import CallGone, CommandFailed
from flowengine.esl import Event, OutboundProtocol, commands
from flowengine.replay.command_reader import CommandReader

from .conftest import load

UUID = "bb05c26f-fd4e-49f8-842c-a306cad233fa"  # the call in answer_playback_hangup


def event(name, **headers):
    lines = [f"Event-Name: {name}", f"Unique-ID: {headers.pop('uid', UUID)}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    body = ("\n".join(lines) + "\n\n").encode()
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body


def reply(text):
    return f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode()


def connected():
    proto = OutboundProtocol(new_uuid=iter(f"00000000-0000-4000-8000-{i:012d}" for i in range(99)).__next__)
    data, ticket = proto.connect()
    proto.receive(load("answer_playback_hangup").chunks("in")[0])
    assert ticket.done and proto.uuid == UUID and proto.socket_mode == "async"
    return proto


def test_a_late_reply_is_swallowed_by_the_abandoned_command():
    proto = connected()
    first = proto.command(commands.getvar("a"))
    proto.abandon(first)                       # timed out
    second = proto.command(commands.getvar("b"))
    proto.receive(reply("value-of-a"))
    assert not second.done
    proto.receive(reply("value-of-b"))
    assert second.result.text == "value-of-b"
    assert first.abandoned and first.result is None


def test_execute_completes_only_on_its_application_uuid():
    proto = connected()
    _, ticket = proto.execute("playback", "ivr/welcome.wav")
    proto.receive(reply("+OK"))
    # the same application under another UUID (another controller, a loop) is not ours
    proto.receive(event("CHANNEL_EXECUTE_COMPLETE", Application="playback",
                        Application_UUID="11111111-0000-4000-8000-000000000000"))
    assert not ticket.done
    proto.receive(event("CHANNEL_EXECUTE_COMPLETE", Application="playback", Application_UUID=ticket.key,
                        Application_Response="FILE%20PLAYED"))
    assert ticket.done and ticket.result.application_response == "FILE PLAYED"


def test_an_abandoned_execute_ignores_its_late_completion():
    proto = connected()
    _, late = proto.execute("playback", "a.wav")
    proto.abandon(late)
    _, ticket = proto.execute("playback", "a.wav")
    proto.receive(reply("+OK") + reply("+OK"))
    proto.receive(event("CHANNEL_EXECUTE_COMPLETE", Application="playback", Application_UUID=late.key))
    assert not ticket.done and late.result is None


def test_hangup_ends_every_pending_wait_with_its_cause():
    proto = connected()
    _, execute = proto.execute("bridge", "error/NO_ROUTE_DESTINATION")
    _, job = proto.bgapi("status")
    plain = proto.command(commands.getvar("x"))
    proto.receive(event("CHANNEL_HANGUP", Hangup_Cause="NO_ROUTE_DESTINATION"))
    for ticket in (execute, job, plain):
        assert ticket.done and isinstance(ticket.error, CallGone)
        assert ticket.error.cause == "NO_ROUTE_DESTINATION"
    # later replies still line up (the socket lingers)
    proto.receive(reply("+OK") + reply("+OK Job-UUID: x") + reply("late"))
    after = proto.command(commands.getvar("y"))
    proto.receive(reply("still-answered"))
    assert after.result.text == "still-answered"
    _, execute_after = proto.execute("playback", "a.wav")
    assert isinstance(execute_after.error, CallGone)   # an app never completes after hangup


def test_linger_notice_first_then_the_cause():
    proto = connected()
    _, ticket = proto.execute("playback", "a.wav")
    proto.receive(b"Content-Type: text/disconnect-notice\nControlled-Session-UUID: " + UUID.encode()
                  + b"\nContent-Disposition: linger\nLinger-Time: -1\nContent-Length: 0\n\n")
    assert isinstance(ticket.error, CallGone) and not proto.finished
    assert not proto.hangup_event           # a flow call waits on: the cause is still to come
    proto.receive(event("CHANNEL_HANGUP", Hangup_Cause="ORIGINATOR_CANCEL"))
    assert str(ticket.error) == "call gone: ORIGINATOR_CANCEL (disconnect notice (linger))"
    assert proto.hangup_event and proto.hangup_cause == "ORIGINATOR_CANCEL"   # where a flow call ends
    proto.receive(event("CHANNEL_HANGUP_COMPLETE", Hangup_Cause="ORIGINATOR_CANCEL"))
    assert proto.finished


def test_another_channels_hangup_is_not_ours():
    proto = connected()
    _, ticket = proto.execute("bridge", "user/1001")
    proto.receive(event("CHANNEL_HANGUP", uid="99999999-0000-4000-8000-000000000000", Hangup_Cause="NO_ANSWER"))
    assert not ticket.done and proto.gone is None


def test_err_reply_fails_the_execute():
    proto = connected()
    _, ticket = proto.execute("playback", "a.wav")
    proto.receive(reply("-ERR invalid session id [x]"))
    assert isinstance(ticket.error, CommandFailed)


def test_dtmf_is_queued_with_duration_and_source():
    proto = connected()
    proto.receive(event("DTMF", DTMF_Digit="%23", DTMF_Duration="2240", DTMF_Source="RTP"))
    (digit,) = proto.dtmf
    assert (digit.digit, digit.duration, digit.source) == ("#", 2240, "RTP")


@pytest.mark.parametrize("duration", ["2%C2%B2", "%D9%A3", "1" * 5000, "-5", ""],
                         ids=["superscript", "arabic-indic", "5000-digits", "negative", "empty"])
def test_a_dtmf_duration_that_is_not_ascii_digits_reads_as_unknown(duration):
    """'2²' passed str.isdigit() and then broke int(): the call ended as an internal error."""
    proto = connected()
    proto.receive(event("DTMF", DTMF_Digit="5", DTMF_Duration=duration, DTMF_Source="RTP"))
    (digit,) = proto.dtmf
    assert (digit.digit, digit.duration) == ("5", None)


def test_unread_dtmf_is_bounded_like_freeswitchs_own_queue():
    """A flow call on the event loop never takes digits from the queue: the oldest go."""
    from flowengine.esl.protocol import MAX_QUEUED_DTMF
    proto = connected()
    one = event("DTMF", DTMF_Digit="1", DTMF_Duration="2000")
    proto.receive(one * MAX_QUEUED_DTMF + event("DTMF", DTMF_Digit="9", DTMF_Duration="2000"))
    assert len(proto.dtmf) == MAX_QUEUED_DTMF
    assert proto.dtmf[-1].digit == "9" and proto.dtmf[0].digit == "1"


def test_a_deep_json_event_ends_the_call_with_a_protocol_error():
    from flowengine.errors import ProtocolError
    proto = connected()
    _, ticket = proto.execute("playback", "a.wav")
    body = b'{"Event-Name":"CHANNEL_EXECUTE_COMPLETE","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ProtocolError):
        proto.receive(b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body)
    assert proto.closed and isinstance(ticket.error, CallGone)


def test_eof_ends_the_call():
    proto = connected()
    _, ticket = proto.execute("playback", "a.wav")
    proto.receive(b"")
    assert proto.closed and proto.finished
    assert ticket.error.cause == "CONNECTION_LOST"


def test_garbage_ends_the_call_with_a_protocol_error():
    from flowengine.errors import ProtocolError
    proto = connected()
    _, ticket = proto.execute("playback", "a.wav")
    with pytest.raises(ProtocolError):
        proto.receive(b"Content-Type: api/response\nContent-Length: many\n\n")
    assert proto.closed and isinstance(ticket.error, CallGone)


def test_channel_data_is_kept_once_the_newest_completion_replaces_the_connect_block():
    """A call waiting in a step holds one copy of its channel data, not two: each of its
    completions carries the caller profile and every variable, so it stands for the
    channel and the connect block (~4 KB) is let go."""
    recording = load("answer_playback_hangup")
    keys = [c.header("Event-UUID") for chunk in recording.chunks("out") for c in CommandReader().feed(chunk)
            if c.word == "sendmsg"]
    proto = OutboundProtocol(new_uuid=iter(keys).__next__)
    proto.connect()
    proto.receive(recording.chunks("in")[0])
    at_connect = proto.channel
    assert at_connect.name == "CHANNEL_DATA"
    answer = proto.execute("answer")[1]
    playback = proto.execute("playback", "ivr/welcome.wav")[1]
    for chunk in recording.chunks("in")[1:]:
        proto.receive(chunk)
        if answer.done and not playback.done:
            assert proto.channel is answer.result
    assert proto.channel is playback.result  # the hangup's own completion came after the call was gone
    assert proto.channel.channel_data and not Event.from_plain(b"Event-Name: DTMF\nUnique-ID: x\n\n").channel_data
    for name in ("Caller-Destination-Number", "Caller-Caller-ID-Number", "Unique-ID",
                 "variable_origination_caller_id_name", "variable_sound_prefix"):
        assert proto.channel.get(name) == at_connect.get(name) is not None, name
    assert proto.uuid == UUID and proto.control == "full"


def test_a_completion_without_the_channel_data_leaves_the_channel_as_it_was():
    proto = connected()
    _, ticket = proto.execute("set", "a=1")
    proto.receive(reply("+OK") + event("CHANNEL_EXECUTE_COMPLETE", Application="set", Application_UUID=ticket.key,
                                       variable_a="1"))
    assert ticket.done and proto.channel.name == "CHANNEL_DATA"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\r\n\0"), max_size=12))
def test_a_word_is_refused_exactly_when_it_holds_whitespace(text):
    """An application name, a UUID, a cause: one word. Printable ASCII is checked for its
    one space character without a regex; anything else by ``\\s``, Unicode's whitespace."""
    import re

    from flowengine.errors import UnsafeValue
    from flowengine.esl.commands import _word

    try:
        _word(text, "word")
        refused = False
    except UnsafeValue:
        refused = True
    assert refused == (not text or re.search(r"\s", text) is not None)
