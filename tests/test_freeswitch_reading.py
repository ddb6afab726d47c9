"""How FreeSWITCH reads what we send and what it wrote: the model (tests/freeswitch_model.py)
against the recordings, and the library's fake FreeSWITCH against the model."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings, strategies as st

from flowengine.esl import Event, Parser, commands
from flowengine.esl.urlcode import decode, encode
from flowengine.replay.command_reader import CommandReader, stored
from flowengine.testing.scripted import ScriptedFreeSwitch

from . import freeswitch_model as fs
from .conftest import FIXTURE_NAMES, load

SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def executes(name: str) -> dict[str, Event]:
    """Each recorded CHANNEL_EXECUTE by its Application-UUID."""
    return {m.application_uuid: m for m in Parser().feed(load(name).inbound())
            if isinstance(m, Event) and m.name == "CHANNEL_EXECUTE" and m.format == "plain"}


def test_the_model_reads_every_recorded_argument_as_freeswitch_ran_it():
    """Header or body, ARRAY:: with one element or two: what the model takes for the
    argument is the Application-Data of that application's CHANNEL_EXECUTE."""
    checked = 0
    for name in FIXTURE_NAMES:
        ran = executes(name)
        for chunk in load(name).chunks("out"):
            rest = chunk
            while rest.strip(b"\r\n"):
                command, rest = fs.read_command(rest)
                if not command.command.startswith("sendmsg") or command.headers.get("call-command") != "execute":
                    continue
                event = ran.get(command.headers.get("Event-UUID"))
                if event is None:          # the call was gone before it ran
                    continue
                app, arg = fs.sendmsg_argument(fs_bytes(command))
                assert (app, ran_as(arg, event)) == (event.application, event.application_data or ""), name
                checked += 1
    assert checked > 100


PROFILE = {"caller_id_name": "Caller-Caller-ID-Name", "caller_id_number": "Caller-Caller-ID-Number",
           "destination_number": "Caller-Destination-Number"}


def ran_as(arg: str | None, event: Event) -> str:
    """The argument once the core expanded it with the channel's variables (the event's),
    a caller profile field where no variable has the name (switch_channel_get_variable_dup)."""
    def lookup(name: str) -> str | None:
        return event.variable(name) or (event.get(PROFILE[name]) if name in PROFILE else None)
    return fs.text_of(fs.expand_passes(fs.chars(arg or "", "?"), 1, lookup)[0])


def fs_bytes(command: fs.Received) -> bytes:
    """A command as the model read it, written again (header values as stored)."""
    lines = [command.command] + [f"{h['name']}: {h['value']}" for h in command.headers.items]
    body = (command.body or "").encode()
    if command.body is not None:
        lines = [line for line in lines if not line.lower().startswith("content-length:")]
        lines.append(f"content-length: {len(body)}")
    return ("\n".join(lines) + "\n\n").encode() + body


def test_the_recorded_array_arguments():
    """array_in_header: ``ARRAY::INFO one element`` ran as ``INFO one element``; with two
    elements the application got the text as sent. argument_in_body: the body as sent."""
    read = {}
    for name in ("array_in_header", "argument_in_body"):
        for chunk in load(name).chunks("out"):
            if chunk.startswith(b"sendmsg"):
                command, _ = fs.read_command(chunk)
                read[command.headers.get("Event-UUID")] = fs.sendmsg_argument(chunk)[1]
    for name in ("array_in_header", "argument_in_body"):
        for uuid, event in executes(name).items():
            assert ran_as(read[uuid], event) == (event.application_data or "")
    assert "INFO one element" in read.values() and "ARRAY::INFO first|:INFO second" in read.values()
    assert "INFO ARRAY::one|:two" in read.values() and "INFO first line\nsecond line" in read.values()


def test_the_model_stores_variables_as_recorded():
    """``set`` of ``ARRAY::x|:y`` (header or body) is a two-element array, shown as
    ``ARRAY::x|:y``; ``ARRAY::hello`` was stored as ``hello`` (fixtures/README.md)."""
    completes = [m for name in ("array_in_header", "argument_in_body") for m in Parser().feed(load(name).inbound())
                 if isinstance(m, Event) and m.name == "CHANNEL_EXECUTE_COMPLETE" and m.application == "set"]
    for event in completes:
        var, _, value = event.application_data.partition("=")
        assert event.variable(var) == fs.store_variable(value) == "ARRAY::x|:y"
    assert fs.store_variable("ARRAY::hello") == "hello" == stored("ARRAY::hello")
    assert fs.store_variable("ARRAY::") is None and fs.store_variable("") is None


def test_every_recorded_header_value_is_read_as_one_freeswitch_may_have_held():
    """Every event header value FreeSWITCH wrote is in its encoder's image: the engine's
    reading encodes back to it, and is the model's own decoder's."""
    values = 0
    for name in FIXTURE_NAMES:
        for message in Parser().feed(load(name).inbound()):
            event = message.channel if hasattr(message, "channel") and message.channel else message
            if not isinstance(event, Event) or event.format != "plain":
                continue
            block = event._raw.split(b"\n\n", 1)[0]
            for line in block.split(b"\n"):
                head, sep, value = line.partition(b": ")
                if not sep or b"%" not in value:
                    continue
                wire = value.decode("utf-8")
                reading = decode(wire)
                assert fs.is_reading(wire, reading) and reading == fs.url_decode_strict(wire), (name, wire)
                values += 1
    assert values > 1000


# -- the library's FreeSWITCH reads a command as the model does -----------------------------------
HEADER_VALUE = st.lists(st.sampled_from(["ARRAY::", "|:", "x", " ", "INFO", "a=b", "\\r", "%41", "é", ":"]),
                        max_size=5).map("".join)
LINE_END = st.sampled_from(["\n", "\r\n", "\r\r\n"])


@SETTINGS
@given(arg=st.none() | HEADER_VALUE, body=st.none() | st.text(max_size=12),
       ctype=st.sampled_from([None, "text/plain", "TEXT/Plain", "text/plain; charset=utf-8", "ARRAY::text/plain"]),
       end=LINE_END, extra=st.sampled_from(["", "execute-app-arg: \n", "execute-app-arg: second\n", "X-No-Colon\n"]))
@example(arg="ARRAY::INFO one element", body=None, ctype=None, end="\n", extra="")
@example(arg="ARRAY::x|:y", body=None, ctype=None, end="\n", extra="")
@example(arg="ARRAY::", body="the body", ctype="text/plain", end="\n", extra="")
@example(arg=None, body="a\0b", ctype="text/plain", end="\n", extra="")
def test_the_fake_freeswitch_reads_the_argument_as_freeswitch_does(arg, body, ctype, end, extra):
    lines = ["sendmsg", "call-command: execute", "execute-app-name: log"]
    if arg is not None:
        lines.append(f"execute-app-arg: {arg}")
    lines += [line for line in extra.split("\n") if line]
    if ctype is not None:
        lines.append(f"content-type: {ctype}")
    data = (body or "").encode()
    if body is not None:
        lines.append(f"content-length: {len(data)}")
    wire = (end.join(lines) + end + end).encode() + data
    (command,) = CommandReader().feed(wire)
    assert (command.app, command.app_arg) == (lambda a: (a[0], a[1] or ""))(fs.sendmsg_argument(wire))


@SETTINGS
@given(st.text(max_size=20) | st.sampled_from(["ARRAY::", "ARRAY::x", "ARRAY::|:x", "ARRAY::x|:|:y",
                                                 "ARRAY::ARRAY::x", "ARRAY::x|:ARRAY::y"]))
def test_the_fake_freeswitch_stores_a_variable_as_freeswitch_does(value):
    assert stored(value) == fs.store_variable(value)


def test_the_scripted_freeswitch_keeps_a_variable_as_freeswitch_would():
    fs_ = ScriptedFreeSwitch(destination="1000", variables={"v": "ARRAY::preset"})
    fs_.receive(b"connect\n\n")
    fs_.receive(commands.execute("set", "hello=ARRAY::hello", event_uuid="e-1"))
    fs_.receive(commands.execute("set", "pair=ARRAY::x|:y", event_uuid="e-2"))
    fs_.receive(f"api uuid_setvar {fs_.uuid} viaapi ARRAY::viaapi\n\n".encode())
    assert (fs_.vars["v"], fs_.vars["hello"], fs_.vars["pair"], fs_.vars["viaapi"]) == \
        ("preset", "hello", "ARRAY::x|:y", "viaapi")


@SETTINGS
@given(st.text(max_size=16) | st.sampled_from(["%41RRAY::x%2Cy", "%2541", "%", "%4", "%3a", "%25%41"]))
def test_the_scripted_freeswitch_writes_a_caller_name_as_freeswitch_does(name):
    fs_ = ScriptedFreeSwitch(destination="1000", caller_name=name or "x")
    reply = b"".join(chunk for _, chunk in fs_.receive(b"connect\n\n"))
    wire = next(line for line in reply.split(b"\n") if line.startswith(b"Caller-Caller-ID-Name: "))
    wire_value = wire.split(b": ", 1)[1].decode()
    assert wire_value == (fs.url_encode(name or "x") or "_undef_") == (encode(name or "x") or "_undef_")
    channel = Parser().feed(reply)[0].channel
    assert fs.is_reading(wire_value, channel.get("Caller-Caller-ID-Name"))


def test_a_json_value_needs_no_decoding():
    """``myevents json`` carries values as they are: %41 there is the text too."""
    body = json.dumps({"Event-Name": "CHANNEL_DATA", "Caller-Caller-ID-Name": "%41RRAY::x%2Cy"}).encode()
    assert Event.from_json(body).get("Caller-Caller-ID-Name") == "%41RRAY::x%2Cy"
