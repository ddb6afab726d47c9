"""speak, record_call, queue, conference and languages: what reaches FreeSWITCH, and
what --check says, beyond what the flow tests (tests/flows/replay/media.test.yaml and
flows/examples) replay from the recordings."""

from __future__ import annotations

import pytest

from flowengine.errors import UnsafeValue
from flowengine.flows.source import parse_source
from flowengine.flows.validate import check
from flowengine.quoting import data, join, literal, speak_arg

from .flowkit import complete, flow_from, play
from .test_quoting_flows import channel


# -- speak ------------------------------------------------------------------------------------
def test_with_an_engine_and_voice_the_text_is_the_rest_whatever_it_holds():
    arg = speak_arg(join([literal("Hello "), data("a|b|c", "caller_id_name")]), "flite", "slt")
    assert arg == "flite|slt|Hello a|b|c"


def test_alone_a_bar_from_the_call_is_a_pause_and_cannot_name_a_voice():
    arg = speak_arg(join([literal("Hello "), data("nosuch|x|Eve", "caller_id_name")]), None, None)
    assert arg == "Hello nosuch x Eve" and "|" not in arg
    assert arg.data  # still marked as the call's: the application argument's encoding sees it


@pytest.mark.parametrize("text", ["voice|Hello", "^^:a:b"])
def test_alone_the_authors_bar_or_a_delimiter_change_is_refused(text):
    with pytest.raises(UnsafeValue):
        speak_arg(literal(text), None, None)


def test_a_delimiter_change_from_the_call_is_refused_and_an_empty_text_too():
    with pytest.raises(UnsafeValue, match="caller_id_name"):
        speak_arg(data("^^ a b", "caller_id_name"), None, None)
    with pytest.raises(UnsafeValue, match="empty"):
        speak_arg(literal(" "), "flite", "slt")


SPEAK = """
name: s
start: say
%s
steps:
  say: {speak: %s, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def test_speak_takes_the_flows_voice_and_a_steps_own_wins():
    flow = flow_from(SPEAK % ("tts: {engine: flite, voice: slt}", '"Hi ${caller_id_name}"'))
    run = play(flow, lambda c: complete(c.app, c.arg), channel=channel(name=b"Bo%7Cx"))
    assert run.executed[0] == ("speak", "flite|slt|Hi Bo|x")
    flow = flow_from(SPEAK % ("tts: {engine: flite, voice: slt}", "{text: Hi, engine: flite, voice: kal}"))
    assert play(flow, lambda c: complete(c.app, c.arg)).executed[0] == ("speak", "flite|kal|Hi")


def test_check_refuses_a_bar_in_a_text_without_voice_and_an_engine_without_voice():
    _, errors, _ = check(parse_source(SPEAK % ("", '"a|b"'), "flows/s.yaml"))
    assert any("flows/s.yaml:6:" in e and "'|'" in e for e in errors), errors
    _, errors, _ = check(parse_source(SPEAK % ("", "{text: a, engine: flite}"), "flows/s.yaml"))
    assert errors
    _, errors, _ = check(parse_source(SPEAK % ("tts: {engine: flite, voice: slt}", '"a|b"'), "flows/s.yaml"))
    assert not errors


# -- record_call ------------------------------------------------------------------------------
RECORD_CALL = """
name: r
start: rec
steps:
  rec: {record_call: {file: "%s"}, next: stop}
  stop: {record_call: {stop: true}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def test_record_call_takes_call_data_only_as_a_file_name():
    flow = flow_from(RECORD_CALL % "${recordings_dir}/${caller_id_name}.wav")
    run = play(flow, lambda c: complete(c.app, c.arg, record_ms="900"), channel=channel(name=b"Ann"))
    assert run.executed[:2] == [("record_session", "${recordings_dir}/Ann.wav"),
                                ("stop_record_session", "${recordings_dir}/Ann.wav")]
    assert run.vars["call_recording_ms"] == "900"
    run = play(flow, lambda c: complete(c.app, c.arg), channel=channel(name=b"..%2F..%2Fetc%2Fx"))
    assert run.executed == [("hangup", "NORMAL_TEMPORARY_FAILURE")]   # '/' from the call: refused
    flow = flow_from(RECORD_CALL % "${recordings_dir}/x ${caller_id_name}")
    run = play(flow, lambda c: complete(c.app, c.arg), channel=channel(name=b"%2B5"))
    assert run.executed == [("hangup", "NORMAL_TEMPORARY_FAILURE")]   # ' +5' would be a time limit


def test_record_call_needs_a_file_to_start():
    _, errors, _ = check(parse_source("""
name: r
start: rec
steps:
  rec: {record_call: {}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""", "flows/r.yaml"))
    assert any("flows/r.yaml:5:" in e and "file:" in e for e in errors), errors


# -- queue ------------------------------------------------------------------------------------
TWO_QUEUES = """
name: q
start: first
steps:
  first: {queue: {name: "sales_${caller_id_name}@default"}, on: {timeout: second}, next: bye}
  second: {queue: {name: support@default}, on: {answered: bye, failed: failed}}
  failed: {hangup: CALL_REJECTED}
  bye: {hangup: NORMAL_CLEARING}
"""


def test_a_second_queue_is_decided_by_its_own_answer_not_the_first_ones():
    flow = flow_from(TWO_QUEUES)
    stale = {"cc_cause": "cancel", "cc_cancel_reason": "TIMEOUT"}

    def host(command):
        if command.arg == "sales_Alice@default":
            return complete(command.app, command.arg, **stale)
        if command.app == "callcenter":   # "Queue not found": FreeSWITCH sets nothing new
            return complete(command.app, command.arg, cc_cancel_reason="TIMEOUT")
        return complete(command.app, command.arg)

    run = play(flow, host, channel=channel(name=b"Alice"))
    assert run.executed[:3] == [("callcenter", "sales_Alice@default"), ("unset", "cc_cause"),
                                ("callcenter", "support@default")]
    assert run.visited == ["first", "second", "failed"]


def test_call_data_cannot_name_another_domain_or_add_arguments_to_a_queue():
    flow = flow_from(TWO_QUEUES)
    for name in (b"x@other", b"x%20y"):
        run = play(flow, lambda c: complete(c.app, c.arg), channel=channel(name=name))
        assert run.executed == [("hangup", "NORMAL_TEMPORARY_FAILURE")], name


# -- conference -------------------------------------------------------------------------------
CONFERENCE = """
name: c
start: join
steps:
  join: {conference: {room: "r_${caller_id_name}", pin: "${caller_id_number}", flags: [mute, moderator]}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def test_conference_joins_room_at_profile_with_pin_and_flags():
    run = play(flow_from(CONFERENCE), lambda c: complete(c.app, c.arg), channel=channel(name=b"sales", number=b"42"))
    assert run.executed[0] == ("conference", "r_sales@default+42+flags{mute|moderator}")
    assert run.outcomes[0] == ("join", "left")


@pytest.mark.parametrize("name, number", [(b"x@other", b"1"), (b"x%2Bflags%7Bmoderator%7D", b"1"),
                                          (b"bridge:x", b"1"), (b"ok", b"1%2Bflags%7Bendconf%7D")])
def test_call_data_cannot_pick_a_profile_pin_or_flags(name, number):
    run = play(flow_from(CONFERENCE), lambda c: complete(c.app, c.arg), channel=channel(name=name, number=number))
    assert run.executed == [("hangup", "NORMAL_TEMPORARY_FAILURE")]


# -- languages --------------------------------------------------------------------------------
LANGUAGES = """
name: l
languages:
  de: {sound_prefix: /sounds/de, say: de, tts: {engine: flite, voice: awb}}
start: pick
steps:
  pick: {language: "${lang}", on: {unknown: bye}, next: hello}
  hello: {say: {text: 5}, next: words}
  words: {speak: "Hallo", next: bye}
  bye: {hangup: NORMAL_CLEARING}
vars: {lang: de}
"""


def test_the_call_language_sets_the_prompt_folder_say_and_speak():
    run = play(flow_from(LANGUAGES), lambda c: complete(c.app, c.arg))
    assert run.executed[:3] == [("set", "sound_prefix=/sounds/de"), ("say", "de number pronounced 5"),
                                ("speak", "flite|awb|Hallo")]


def test_a_language_the_flow_does_not_declare_changes_nothing():
    flow = flow_from(LANGUAGES.replace("vars: {lang: de}", "vars: {lang: \"${caller_id_name}\"}"))
    run = play(flow, lambda c: complete(c.app, c.arg), channel=channel(name=b"fr"))
    assert run.outcomes[0] == ("pick", "unknown") and run.executed == [("hangup", "NORMAL_CLEARING")]


def test_check_names_a_language_the_flow_lacks():
    _, errors, _ = check(parse_source(LANGUAGES.replace('language: "${lang}"', "language: fr"), "flows/l.yaml"))
    assert any("flows/l.yaml:7:" in e and "'fr' is not one of the flow's languages: de" in e for e in errors), errors


# -- a host without the module ----------------------------------------------------------------
def test_a_host_without_mod_callcenter_is_never_sent_callcenter():
    from pathlib import Path

    from flowengine.call.flow_call import FlowCall
    from flowengine.flows import load_flows
    from flowengine.preflight.hosts import Hosts as HostApplications
    from flowengine.session import Timeouts
    from flowengine.testing.memory import converse
    from flowengine.testing.scripted import ScriptedFreeSwitch

    flows = load_flows(Path(__file__).resolve().parent / "flows" / "replay")
    sent: list = []

    class Tap(ScriptedFreeSwitch):
        def receive(self, data):
            sent.append(data)
            return super().receive(data)

    call = FlowCall(lambda: flows, Timeouts(), run_options={"trace": True}, hosts=HostApplications())
    converse(call, Tap(destination="1104", lacks=("callcenter",)))
    wire = b"".join(sent)
    assert b"api show application" in wire and b"execute-app-name: callcenter" not in wire
    assert call.run.result == "error" and call.run.executed[-1] == ("hangup", "NORMAL_TEMPORARY_FAILURE")
    sent.clear()
    call = FlowCall(lambda: flows, Timeouts(), run_options={"trace": True}, hosts=HostApplications())
    converse(call, Tap(destination="1104"))
    assert ("callcenter", "waitq@default") in call.run.executed and call.run.outcomes[2] == ("wait", "answered")


def test_queue_music_may_name_a_file_from_the_call_but_not_expand_it():
    flow = flow_from("""
name: m
start: q
steps:
  q: {queue: {name: support@default, music: "moh/${caller_id_name}.wav"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""")
    run = play(flow, lambda c: complete(c.app, c.arg), channel=channel(name=b"jazz"))
    assert run.executed[0] == ("set", "cc_moh_override=moh/jazz.wav")
    run = play(flow, lambda c: complete(c.app, c.arg), channel=channel(name=b"%24%7Bx%7D"))
    assert run.executed == [("hangup", "NORMAL_TEMPORARY_FAILURE")]


# -- the scripted FreeSWITCH follows the recordings -------------------------------------------
from flowengine.esl import Event, Parser  # noqa: E402
from flowengine.testing.host import Host  # noqa: E402
from flowengine.testing.scripted import ScriptedFreeSwitch  # noqa: E402

from .conftest import load  # noqa: E402

def _shape(messages, app: str) -> list[str]:
    """The executions of ``app``, hangups and digits, in order, by name."""
    out = []
    for m in messages:
        if not isinstance(m, Event):
            continue
        if m.name in ("CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE") and m.application == app:
            out.append(m.name)
        elif m.name == "CHANNEL_HANGUP":
            out.append(f"CHANNEL_HANGUP:{m.hangup_cause}")
        elif m.name == "DTMF":
            out.append("DTMF")
    return out


def _recorded(name: str, app: str) -> list[str]:
    messages = Parser().feed(load(name).inbound())
    shape = _shape(messages, app)
    first = shape.index("CHANNEL_EXECUTE")
    last = max(i for i, s in enumerate(shape) if s == "CHANNEL_EXECUTE_COMPLETE")
    return shape[first:last + 1]


def _completion(messages, app: str) -> Event:
    return next(m for m in messages if isinstance(m, Event) and m.name == "CHANNEL_EXECUTE_COMPLETE"
                and m.application == app)


def test_record_into_a_missing_folder_hangs_up_as_recorded():
    fs = ScriptedFreeSwitch(destination="1102", host=Host(missing_directories={"/nonexistent"}))
    fs.linger = True
    messages = Parser().feed(fs.run_app("record", "/nonexistent/flowengine/voicemail/msg.wav 10 200 3", "k"))
    assert _shape(messages, "record") == _recorded("record_missing_directory", "record") == [
        "CHANNEL_EXECUTE", "CHANNEL_HANGUP:DESTINATION_OUT_OF_ORDER", "CHANNEL_EXECUTE_COMPLETE"]


@pytest.mark.parametrize("fixture, outcome, keys", [("queue_timeout", "timeout", ""),
                                                    ("queue_no_agent", "no_agent", ""),
                                                    ("queue_exit_key", "timeout", "1")])
def test_the_queue_reports_what_the_recording_reports(fixture, outcome, keys):
    recorded = _completion(Parser().feed(load(fixture).inbound()), "callcenter")
    fs = ScriptedFreeSwitch(destination="1104", queues={recorded.application_data: outcome},
                            variables={"cc_exit_keys": keys} if keys else None,
                            actions=[{"press": "1"}] if keys else None)
    messages = Parser().feed(fs.run_app("callcenter", recorded.application_data, "k"))
    done = _completion(messages, "callcenter")
    for var in ("cc_side", "cc_queue", "cc_cause", "cc_cancel_reason", "cc_exit_key"):
        assert (done.variable(var) is None) == (recorded.variable(var) is None), var
    for var in ("cc_side", "cc_queue", "cc_cause", "cc_cancel_reason", "cc_exit_key"):
        assert done.variable(var) == recorded.variable(var), var
    assert _shape(messages, "callcenter") == _recorded(fixture, "callcenter")


def test_conference_hash_leaves_as_recorded():
    recorded = _completion(Parser().feed(load("conference_hash_leaves").inbound()), "conference")
    fs = ScriptedFreeSwitch(destination="1111", actions=[{"press": "#"}])
    messages = Parser().feed(fs.run_app("conference", "room2@default", "k"))
    done = _completion(messages, "conference")
    assert done.variable("conference_name") == recorded.variable("conference_name") == "room2"
    assert done.variable("conference_last_matching_digits") == recorded.variable("conference_last_matching_digits")
    assert _shape(messages, "conference") == _recorded("conference_hash_leaves", "conference")
