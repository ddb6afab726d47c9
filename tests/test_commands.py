"""Command builders: the exact bytes the recordings show, and no injectable line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from flowengine.errors import UnsafeValue
from flowengine.esl import commands as c
from flowengine.replay.command_reader import CommandReader

from .conftest import FIXTURE_NAMES, load


def recorded_outs():
    seen = set()
    for name in FIXTURE_NAMES:
        for chunk in load(name).chunks("out"):
            seen.add(chunk)
    return seen


def test_builders_match_what_was_sent_to_a_real_freeswitch():
    outs = recorded_outs()
    built = [
        c.connect(), c.myevents(), c.myevents("json"), c.myevents("xml"), c.linger(),
        c.event("plain", "BACKGROUND_JOB"), c.api("uptime"), c.api("no_such_command"),
        c.filter("Event-Name", "CHANNEL_EXECUTE_COMPLETE"), c.nixevent("CHANNEL_EXECUTE"),
        c.getvar("flow_choice"),
        c.bgapi("msleep 200", "6b1f0d3c-5c2e-4f8a-9d61-2a7e3c4b5d01"),
        c.execute("answer", event_uuid="696d4d12-002d-4cff-8b1f-26af87e58734"),
        # every argument as the body, as argument_in_body and app_arg_in_body sent it
        c.execute("playback", "ivr/welcome.wav", event_uuid="e0056912-274f-4647-8ed6-43bb63d1cd36"),
        c.execute("log", "INFO ARRAY::one|:two", event_uuid="4279c345-505d-4f24-98d3-6c98ed916a9f"),
        c.execute("set", "body_value=ARRAY::x|:y", event_uuid="693279ca-d490-4127-a04b-b4a7fbd959f4"),
        c.execute("log", "INFO first line\nsecond line", event_uuid="2c8ff50a-0892-4e78-98f7-ce2699f378a4"),
        c.execute("set", "long_var=" + "x" * 3000, event_uuid="9d3c2a1b-0000-4000-8000-000000000021"),
    ]
    missing = [b for b in built if b not in outs]
    assert missing == []


def test_no_argument_travels_in_a_header():
    """array_in_header: FreeSWITCH drops a leading ARRAY:: of execute-app-arg, so what follows
    starts the argument. In the body it is the argument as written (argument_in_body)."""
    for arg in ("ivr/welcome.wav", "ARRAY::^^:7001:XML:default: XML agents", "1000 XML default", "x" * 5000):
        data = c.execute("transfer", arg, event_uuid="e1")
        assert b"execute-app-arg" not in data
        (cmd,) = CommandReader().feed(data)
        assert cmd.app_arg == arg and cmd.header("content-type") == "text/plain"


def test_a_header_value_freeswitch_would_read_as_an_array_is_refused():
    for value in ("ARRAY::x", "  ARRAY::x|:y"):
        with pytest.raises(UnsafeValue, match="ARRAY::"):
            c.sendevent("CUSTOM", [("X-Note", value)])
    with pytest.raises(UnsafeValue, match=r"'\['"):
        c.sendevent("CUSTOM", [("X-Note[1]", "x")])
    assert b"X-Note: ARRAY" in c.sendevent("CUSTOM", [("X-Note", "ARRAY")])


def test_a_body_freeswitch_would_refuse_is_never_sent():
    with pytest.raises(UnsafeValue, match="drop the connection"):
        c.execute("set", "x=" + "y" * c.MAX_BODY)


def test_other_commands():
    assert c.linger(10) == b"linger 10\n\n"
    assert c.nolinger() == b"nolinger\n\n"
    assert c.event("json", "DTMF", "CUSTOM", "sofia::register") == b"event json DTMF CUSTOM sofia::register\n\n"
    assert c.noevents() == b"noevents\n\n"
    assert c.filter_delete() == b"filter delete all\n\n"
    assert c.filter_delete("Unique-ID", "abc") == b"filter delete Unique-ID abc\n\n"
    assert c.divert_events(True) == b"divert_events on\n\n"
    assert c.resume() == b"resume\n\n"
    assert c.log("info") == b"log info\n\n"
    assert c.nolog() == b"nolog\n\n"
    assert c.exit() == b"exit\n\n"
    assert c.hangup("USER_BUSY") == b"sendmsg\ncall-command: hangup\nhangup-cause: USER_BUSY\n\n"
    assert c.nomedia("u-1", uuid="u-2") == b"sendmsg u-2\ncall-command: nomedia\nnomedia-uuid: u-1\n\n"
    assert c.execute("playback", "a.wav", event_lock=False, loops=3) == (
        b"sendmsg\ncall-command: execute\nexecute-app-name: playback\nloops: 3\ncontent-type: text/plain\n"
        b"content-length: 5\n\na.wav")
    assert c.sendevent("CUSTOM", [("Event-Subclass", "fe::x")], "hi\nthere") == (
        b"sendevent CUSTOM\nEvent-Subclass: fe::x\ncontent-type: text/plain\ncontent-length: 8\n\nhi\nthere")


def test_multiline_argument_travels_in_a_counted_body():
    data = c.execute("speak", "flite|kal|Hello caller.\nPlease hold the line.", event_uuid="e1")
    (cmd,) = CommandReader().feed(data)
    assert cmd.header("execute-app-arg") is None
    assert cmd.app_arg == "flite|kal|Hello caller.\nPlease hold the line."
    assert int(cmd.header("content-length")) == len(cmd.body)


def test_argument_with_edge_blanks_keeps_them():
    (cmd,) = CommandReader().feed(c.execute("set", " padded ", event_uuid="e1"))
    assert cmd.app_arg == " padded "


def test_body_length_counts_bytes_not_characters():
    (cmd,) = CommandReader().feed(c.execute("set", "name=Zoë\nMüller", event_uuid="e1"))
    assert cmd.app_arg == "name=Zoë\nMüller"


@pytest.mark.parametrize("build", [
    lambda v: c.api(v), lambda v: c.bgapi(v, "j"), lambda v: c.getvar(v),
    lambda v: c.filter("Caller-Caller-ID-Name", v), lambda v: c.hangup(v),
    lambda v: c.execute(v), lambda v: c.execute("a", "b", event_uuid=v),
    lambda v: c.sendevent("CUSTOM", [("X", v)]), lambda v: c.sendevent("CUSTOM", [(v, "x")]),
    lambda v: c.event("plain", v), lambda v: c.execute("set", "x=" + v + "\0"),
])
@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b", "\n\nexit"])
def test_unsafe_values_are_refused(build, bad):
    with pytest.raises(UnsafeValue):
        build(bad)


# -- the security property, over arbitrary text --------------------------------------
text = st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.sampled_from(
    ["\n", "\r\n", "\n\n", "\r", "\0", "x\n\nsendmsg\ncall-command: hangup\n\n", "a: b", " lead"])


def read_all(data: bytes):
    reader = CommandReader()
    return reader.feed(data), reader


@settings(max_examples=300, deadline=None)
@given(app=text, arg=text, caller=text)
def test_execute_never_yields_more_lines_than_intended(app, arg, caller):
    try:
        data = c.execute(app, f"{caller} {arg}", event_uuid="u-1")
    except UnsafeValue:
        return
    commands, reader = read_all(data)
    assert len(commands) == 1 and not reader._buf
    (cmd,) = commands
    assert cmd.line == "sendmsg"
    names = [k.lower() for k, _ in cmd.headers]
    assert names[:2] == ["call-command", "execute-app-name"]
    assert set(names) <= {"call-command", "execute-app-name", "event-lock",
                          "event-uuid", "content-type", "content-length"}
    assert len(names) == len(set(names))
    assert cmd.app == app
    assert cmd.app_arg == f"{caller} {arg}"


@settings(max_examples=300, deadline=None)
@given(value=text, which=st.sampled_from(["api", "bgapi", "getvar", "filter", "hangup", "sendevent",
                                          "event", "log", "uuid"]))
def test_single_line_commands_stay_single(value, which):
    build = {
        "api": lambda: c.api(value), "bgapi": lambda: c.bgapi(value, "job-1"),
        "getvar": lambda: c.getvar(value), "filter": lambda: c.filter("Caller-Caller-ID-Name", value),
        "hangup": lambda: c.hangup(value), "sendevent": lambda: c.sendevent("CUSTOM", [("X-Note", value)]),
        "event": lambda: c.event("plain", value), "log": lambda: c.log(value),
        "uuid": lambda: c.execute("answer", uuid=value),
    }[which]
    try:
        data = build()
    except UnsafeValue:
        return
    commands, reader = read_all(data)
    assert len(commands) == 1 and not reader._buf
    expected_headers = {"api": 0, "bgapi": 1, "getvar": 0, "filter": 0, "hangup": 2, "sendevent": 1,
                        "event": 0, "log": 0, "uuid": 3}[which]
    assert len(commands[0].headers) == expected_headers


def test_a_lone_surrogate_is_refused_before_a_byte_is_built():
    from flowengine.errors import UnsafeValue
    from flowengine.esl import commands
    with pytest.raises(UnsafeValue):
        commands.api("uuid_setvar u-1 note a\ud800")
    with pytest.raises(UnsafeValue):
        commands.execute("set", "note=" + "x" * 2000 + "\ud800")
