"""Call data as FreeSWITCH delivers it, through a flow, onto the wire, and back into FreeSWITCH:
what it runs and stores, judged by the model (tests/freeswitch_model.py) on the bytes sent.

A caller name is what the caller chose, byte for byte: FreeSWITCH url-encodes it into the
event (switch_url_encode: ``%41`` stays ``%41``), the engine decodes it, a flow puts it in a
command, the command is written as it goes to the socket, and the model reads that command
as mod_event_socket and switch_ivr_parse_event do (headers stored with the ``ARRAY::`` rule,
the argument from the header or the text/plain body), then expands it and parses it as the
application does. What it runs and stores must be what the author wrote, with the call's
value in it as inert text: control characters from the call are spaces, and nothing else of
it changes except where an encoder documents a change (a ``|`` spoken as a pause).
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings, strategies as st

from flowengine.esl import Event, commands
from flowengine.flows.effects import HttpRequest, HttpResult
from flowengine.quoting.api import setvar_args

from . import freeswitch_model as fs
from .flowkit import complete, flow_from, play

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UUID = "0d7a4e52-3f1c-4b8e-9a2d-5c6b7e8f9a0b"
FS_VALUES = {"sound_prefix": "/usr/share/sounds"}

#: what a caller may put in a name: %XX forms (literal, and of bytes FreeSWITCH encodes),
#: ARRAY:: and its array separator, delimiter changes, scoped variables, speech parameters,
#: transfer's options, control characters, and anything else
PIECES = ["%41", "%2C", "%3A", "%0A", "%0D", "%25", "%2541", "%", "%4", "%3a", "%7C%3A", "ARRAY::", "ARRAY",
          "RRAY::", "::", "|:", "|", "^^", "^^:", "%[", "%;[", "[", "]", "{", "}", "=", "-bleg", "-both", "\n",
          "\r", "\x01", "\x1b", "\x7f", "\x85", " ", ",", ":", "$", "\\", "'", "a", "7001", "é", "XML", "x=y"]
CALLER = st.lists(st.sampled_from(PIECES) | st.text(min_size=1, max_size=3), min_size=1, max_size=8).map("".join)
CONTROL = {chr(c) for c in list(range(0x20)) + list(range(0x7F, 0xA0))}


def arrives(raw: str) -> bytes:
    """The caller name as FreeSWITCH writes it in an event header (the model's encoder)."""
    return (fs.url_encode(raw) or "_undef_").encode()


def channel(raw_name: str) -> Event:
    return Event.from_plain(b"Event-Name: CHANNEL_DATA\nUnique-ID: u-1\nCaller-Caller-ID-Name: " + arrives(raw_name)
                            + b"\nCaller-Caller-ID-Number: 5551234\nCaller-Destination-Number: 1000\n\n")


def engine_reads(raw: str) -> str:
    return channel(raw).get("Caller-Caller-ID-Name")


def inert(value: str) -> str:
    """A value from the call as it may arrive: its control characters written as spaces."""
    return "".join(" " if c in CONTROL else c for c in value)


def sent(flow_text: str, name: str, answers=None) -> list[tuple[str, str | None]]:
    """(application, argument) of every sendmsg the flow writes, read back from its bytes by
    the model of FreeSWITCH. ``answers``: the answer to an HTTP request."""
    def answer(command):
        if isinstance(command, HttpRequest):
            return answers
        return complete(command.app, command.arg)
    run = play(flow_from(flow_text), answer, channel=channel(name))
    out = []
    for app, arg in run.executed:
        wire = commands.execute(app, arg, event_uuid="e-1")
        out.append(fs.sendmsg_argument(wire))
    return out


def expanded(arg: str, passes: int = 1) -> str:
    cs, found = fs.expand_passes(fs.chars(arg, "sent"), passes, FS_VALUES.get)
    assert not [e for e in found if e.kind == "api"], arg
    return fs.text_of(cs)


def matches(got: str, intended: str, may_blank=lambda c: c in CONTROL) -> bool:
    """Whether ``got`` is ``intended`` with some characters ``may_blank`` allows written as
    spaces and some spaces put in (the encoders part a ``$`` from a ``{`` that way)."""
    reach = {0}
    for g in got:
        reach = {j + 1 for j in reach if j < len(intended) and (g == intended[j] or (g == " " and may_blank(intended[j])))} \
            | ({j for j in reach} if g == " " else set())
        if not reach:
            return False
    return len(intended) in reach


def refusable_word(name: str) -> bool:
    """What quoting/words.py refuses in one argument word: a blank, a quote, a backslash or a
    control character, a leading '-' or '^^', a '$' next to what would expand, a '{' after a
    '}' (expansion.breaks_needed), '%…[' first."""
    return (not name or any(c.isspace() or c in "'\\\"" or c in CONTROL for c in name)
            or name.startswith(("-", "^^")) or "$" in name or "}{" in name
            or (name.startswith("%") and "[" in name[1:3]))


# -- the engine reads a header value as FreeSWITCH wrote it -----------------------------------
@SETTINGS
@given(CALLER)
@example("%41RRAY::x%2Cy")
@example("%2541")
def test_the_engine_reads_one_of_the_values_freeswitch_may_have_held(raw):
    wire = fs.url_encode(raw)
    reading = engine_reads(raw)
    assert fs.is_reading(wire, reading), (raw, wire, reading)
    assert reading == fs.url_decode_strict(wire)
    ambiguous = any(raw.startswith(f"%{b:02X}", i) for i in range(len(raw))
                    for b in list(range(0x20)) + [ord(c) for c in fs.URL_UNSAFE] + list(range(0x7F, 0x100)))
    if not ambiguous:
        assert reading == raw, (raw, reading)


def test_the_recorded_percent_name_is_literal_text():
    """caller_name_percent: ``%41RRAY::x%2Cy`` arrives as ``%41RRAY%3A%3Ax%2Cy``; FreeSWITCH's
    own log printed ``caller name is %41RRAY::x%2Cy``."""
    from flowengine.esl import Parser
    from .conftest import load
    recording = load("caller_name_percent")
    connect = Parser().feed(recording.chunks("in")[0])[0]
    assert connect.channel.get("Caller-Caller-ID-Name") == "%41RRAY::x%2Cy"
    log = next(m for m in Parser().feed(recording.inbound())
               if isinstance(m, Event) and m.name == "CHANNEL_EXECUTE" and m.application == "log")
    assert log.application_data == "INFO caller name is %41RRAY::x%2Cy"


# -- each encoder, end to end --------------------------------------------------------------------
TRANSFER = """
name: t
start: s
steps:
  s: {transfer: "${caller_id_name} XML agents"}
"""


@SETTINGS
@given(CALLER)
@example("%41RRAY::^^:7001:XML:default:")
@example("ARRAY::-bleg")
def test_transfer_runs_the_authors_dialplan_and_context_with_the_name_as_extension(raw):
    name = engine_reads(raw)
    commands_sent = sent(TRANSFER, raw)
    app, arg = commands_sent[0]
    if app == "hangup":                      # refused: the flow ended before a byte of it went
        assert refusable_word(name), name
        return
    words = [fs.text_of(w) for w in fs.separate_blank(fs.chars(expanded(arg), "?"), 4)]
    assert words == [name, "XML", "agents"], (raw, arg)
    assert not words[0].startswith("-")      # transfer_function's -bleg / -both


SPEAK = """
name: t
start: s
steps:
  s: {speak: "%s", next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""
SPEAK_WITH_VOICE = """
name: t
start: s
steps:
  s: {speak: {text: "Hello ${caller_id_name}", engine: flite, voice: slt}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


@SETTINGS
@given(CALLER, st.sampled_from(["${caller_id_name}", "${nothing}${caller_id_name}", "Hi ${caller_id_name}"]))
@example("%41RRAY::%;[tts_engine=flite;tts_voice=kal]{voice=rms}Hello", "${caller_id_name}")
@example("|{voice=rms}Hello", "${caller_id_name}")       # a '|' spoken as a blank before the '{'
def test_speak_says_the_name_with_the_authors_engine_voice_and_no_parameters(raw, template):
    name = engine_reads(raw)
    app, arg = sent(SPEAK % template, raw)[0]
    if app != "speak":                       # refused: '^^' or '%[' first, or nothing to say
        assert name.lstrip(" ").startswith(("^^", "%")) or not inert(name).strip(), name
        return
    scoped, rest = fs.scoped_variables(expanded(arg))
    assert scoped == []
    engine, voice, text, params = fs.speak_parts(rest)
    assert (engine, voice, params) == (None, None, [])
    prefix = template.replace("${caller_id_name}", "").replace("${nothing}", "")
    # a '|' is spoken as a pause and a '{' first as '(' (quoting/speech.py), controls as blanks
    said = "".join(" " if c == "|" or c in CONTROL else c for c in name)
    head = len(said) - len(said.lstrip(" \t"))
    if said[head:head + 1] == "{" and not prefix:
        said = said[:head] + "(" + said[head + 1:]
    assert matches(text, prefix + said), (name, text)


@SETTINGS
@given(CALLER)
def test_speak_with_a_voice_never_lets_the_name_choose_another(raw):
    name = engine_reads(raw)
    app, arg = sent(SPEAK_WITH_VOICE, raw)[0]
    assert app == "speak"
    scoped, rest = fs.scoped_variables(expanded(arg))
    engine, voice, text, params = fs.speak_parts(rest)
    assert (scoped, engine, voice, params) == ([], "flite", "slt", [])
    assert matches(text, "Hello " + name), (name, text)


SET = """
name: t
start: s
steps:
  s: {set: {who: "%s"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def _array_blank(intended: str):
    """Where a stored value may differ from ``intended``: a control character, or a
    character of a leading ARRAY:: (quoting/stored.py writes the call's last one as a space)."""
    return lambda c: c in CONTROL or c in "ARY:|"


@SETTINGS
@given(CALLER, st.sampled_from(["${caller_id_name}", "${nothing}${caller_id_name}", "Dear ${caller_id_name}",
                                "ARRAY::first|:${caller_id_name}"]))
@example("%41RRAY::x", "${caller_id_name}")
@example("ARRAY::", "${caller_id_name}")
@example("y|:z", "ARRAY::first|:${caller_id_name}")
def test_a_set_stores_the_value_as_written_by_application_and_by_api(raw, template):
    name = engine_reads(raw)
    app, arg = sent(SET % template, raw)[0]
    assert app == "set"
    var, stored = fs.set_application(arg, FS_VALUES.get)
    intended = template.replace("${caller_id_name}", name).replace("${nothing}", "")
    assert var == "who" and stored is not None
    assert matches(stored, intended, _array_blank(intended)), (stored, intended)
    assert fs.store_variable(stored) == stored           # FreeSWITCH keeps it as it is: no array
    if template.startswith("ARRAY::"):                   # the author's array: the call adds no element
        assert stored.count("|:") == 1
    if not intended.startswith("ARRAY::") and fs.store_variable(inert(intended)) == inert(intended):
        # nothing needed changing but controls, and the call's '|:' where the author starts
        # the value with ARRAY:: or a ${…} left to FreeSWITCH (its value may be an array:
        # FreeSWITCH's own DP_MATCH is one)
        array_sep = template.startswith(("${nothing}", "ARRAY::"))
        assert matches(stored, intended, lambda c: c in CONTROL or (array_sep and c in "|:"))
    # the same value by api uuid_setvar (when it goes that way) stores the very same
    from flowengine.flows.templates import expand
    value = expand(template, {"caller_id_name": name}.get)
    args = setvar_args(UUID, "who", value)
    if args is not None:
        line = fs.api_line(commands.api(f"uuid_setvar {args}"))
        words = fs.separate_blank(fs.chars(line[len("api uuid_setvar "):].strip(" \t\r\n\v"), "?"), 3)
        assert [fs.text_of(w) for w in words[:2]] == [UUID, "who"]
        given_value = fs.text_of(words[2]) if len(words) == 3 else ""
        by_api = fs.store_variable(given_value)
        assert by_api == given_value and matches(by_api, intended, _array_blank(intended))
        assert matches(stored, by_api, lambda c: False)   # the application's, but for spaces it puts between $ and {


WEBHOOK = """
name: t
start: ask
steps:
  ask:
    http: {url: "https://crm.example.com/who", save: {agent: agent}}
    on: {ok: keep}
    next: bye
  keep: {set: {agent_seen: "${agent}"}, next: go}
  go: {transfer: "${agent} XML agents"}
  bye: {hangup: NORMAL_CLEARING}
"""


@SETTINGS
@given(CALLER)
@example("ARRAY::^^:7001:XML:default:")
def test_a_value_a_webhook_returned_is_stored_and_transferred_to_as_data(value):
    answer = HttpResult(200, json.dumps({"agent": value}).encode(), "application/json")
    commands_sent = sent(WEBHOOK, "Alice", answer)
    apps = [app for app, _ in commands_sent]
    if "set" in apps:
        _, stored = fs.set_application(commands_sent[apps.index("set")][1], FS_VALUES.get)
        assert stored is not None and matches(stored, value, _array_blank(value)), (stored, value)
        assert fs.store_variable(stored) == stored
    if "transfer" in apps:
        arg = commands_sent[apps.index("transfer")][1]
        words = [fs.text_of(w) for w in fs.separate_blank(fs.chars(expanded(arg), "?"), 4)]
        assert words == [value, "XML", "agents"]


BRIDGE = """
name: b
start: ring
steps:
  ring: {bridge: user/1000, caller_id: {name: "Sales ${caller_id_name}"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


@SETTINGS
@given(CALLER)
@example("%41RRAY::x")
@example("ARRAY::x|:y,user/2000")
def test_a_caller_id_name_in_a_dial_string_is_one_stored_variable_and_adds_no_leg(raw):
    (arg,) = [arg for app, arg in sent(BRIDGE, raw) if app == "bridge"]
    parsed = fs.parse_dial_string(fs.chars(expanded(arg), "?"))
    assert len(parsed.legs) == 1 and fs.text_of(parsed.legs[0].endpoint) == "user/1000"
    (value,) = [fs.text_of(v) for k, v in parsed.variables if k == "origination_caller_id_name"]
    assert fs.store_variable(value) == value and value.startswith("Sales")


PLAYBACK = """
name: p
start: s
steps:
  s: {playback: "ivr/${caller_id_name}.wav", next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


@SETTINGS
@given(CALLER)
def test_a_name_in_a_prompt_path_is_that_file_or_nothing(raw):
    name = engine_reads(raw)
    app, arg = sent(PLAYBACK, raw)[0]
    if app == "playback":
        assert expanded(arg) == f"ivr/{name}.wav" and fs.scoped_variables(expanded(arg))[0] == []


# -- the attacks as they were reproduced on FreeSWITCH 1.10.12, judged by the model ------------
def test_a_caller_name_cannot_pick_the_transfers_extension_and_context():
    """``transfer: "${caller_id_name} XML agents"`` with the name ``%41RRAY::^^:7001:XML:default:``
    sent ``execute-app-arg: ARRAY::^^:7001:XML:default: XML agents``: FreeSWITCH dropped the
    prefix, ``^^:`` made ``:`` the delimiter, and the call went to 7001 in context default."""
    for raw in ("%41RRAY::^^:7001:XML:default:", "ARRAY::^^:7001:XML:default:"):
        (app, arg), = sent(TRANSFER, raw)
        assert app == "transfer" and not arg.startswith("^^")
        words = [fs.text_of(w) for w in fs.separate_blank(fs.chars(expanded(arg), "?"), 4)]
        assert words == [raw, "XML", "agents"]           # the name is the extension, literally


def test_a_caller_name_cannot_choose_the_speech_engine_or_voice():
    """``speak: "${caller_id_name}"`` with ``%41RRAY::%;[tts_engine=flite;tts_voice=kal]{voice=rms}Hello``
    let the caller choose the engine (scoped variables) and the voice (speech parameters)."""
    raw = "%41RRAY::%;[tts_engine=flite;tts_voice=kal]{voice=rms}Hello"
    app, arg = sent(SPEAK % "${caller_id_name}", raw)[0]
    assert app == "speak"
    scoped, rest = fs.scoped_variables(expanded(arg))
    assert scoped == [] and fs.speak_parts(rest) == (None, None, raw, [])   # said, not obeyed


def test_a_webhooks_value_is_stored_and_transferred_to_as_text():
    value = "ARRAY::^^:7001:XML:default:"
    answer = HttpResult(200, json.dumps({"agent": value}).encode(), "application/json")
    commands_sent = dict(sent(WEBHOOK, "Alice", answer))
    # stored: never an array whose prefix FreeSWITCH drops (it would hold "^^:7001:…")
    assert fs.set_application(commands_sent["set"], FS_VALUES.get) == ("agent_seen", "ARRAY: ^^:7001:XML:default:")
    words = [fs.text_of(w) for w in fs.separate_blank(fs.chars(expanded(commands_sent["transfer"]), "?"), 4)]
    assert words == [value, "XML", "agents"]


def test_a_line_break_in_a_caller_name_reaches_freeswitch_as_a_space():
    """A ``%0A`` in a caller name forged log lines in FreeSWITCH: the name holds a line break
    (or the text %0A: either reading), and it arrives as a space."""
    (_, arg), = [c for c in sent(SET % "caller said ${caller_id_name}", "Eve%0A2026-12-05 [INFO] forged")
                 if c[0] == "set"]
    assert fs.set_application(arg, FS_VALUES.get) == ("who", "caller said Eve 2026-12-05 [INFO] forged")
