"""Places call data could still become FreeSWITCH syntax, each checked against the model of
FreeSWITCH's expansion (tests/freeswitch_model.py): no API runs, no second dial target."""

from __future__ import annotations

import pytest

from flowengine.errors import UnsafeValue
from flowengine.flows.source import parse_source
from flowengine.flows.validate import check
from flowengine.quoting import data, join, literal
from flowengine.quoting.expansion import app_arg
from flowengine.quoting.speech import speak_arg
from flowengine.quoting.paths import path

from .flowkit import flow_from, play, script
from .freeswitch_model import chars, expand_passes
from .test_quoting_flows import channel, fs_encoded

SHELL = fs_encoded("${system touch /tmp/pwned}")


def apis(arg: str, app: str, variables: dict | None = None) -> list:
    """The APIs FreeSWITCH would run for ``app``'s argument (its one or two passes), with
    the channel's ``variables`` (FreeSWITCH expands a variable's value again)."""
    _, found = expand_passes(chars(arg, "sent"), 2 if app == "set" else 1, (variables or {}).get)
    return [e for e in found if e.kind == "api"]


@pytest.mark.parametrize("form", ["${caller_id_name:0:-1}", "${caller_id_name::8}", "${caller_id_name:x}",
                                  "${caller_id_name:0:-0}", "${caller_id_name:+0}"])
def test_every_substring_form_freeswitch_reads_is_filled_by_the_engine_as_data(form):
    flow = flow_from(f"name: d\nstart: s\nsteps:\n  s: {{set: {{shown: \"Hello {form}\"}}, next: bye}}\n"
                     "  bye: {hangup: NORMAL_CLEARING}\n")
    run = play(flow, script(), channel=channel(name=SHELL))
    (app, arg), = [(a, g) for a, g in run.executed if a == "set"]
    assert "${caller_id_name" not in arg and not apis(arg, app), arg


def test_a_substring_of_a_number_cannot_ring_a_second_target():
    flow = flow_from("name: b\nstart: ring\nsteps:\n  ring: {bridge: \"user/${caller_id_number:0:-1}\", next: bye}\n"
                     "  bye: {hangup: NORMAL_CLEARING}\n")
    run = play(flow, script(), channel=channel(fs_encoded("1001,sofia/gateway/pstn/19005550100")))
    assert not any(app == "bridge" for app, _ in run.executed)


def test_a_language_sound_prefix_is_a_flow_value_like_any_other():
    text = ("name: l\nstart: pick\nchannel_vars: [sip_h_X-Brand]\n"
            "languages:\n  en: {sound_prefix: \"/usr/share/freeswitch/sounds/${sip_h_X-Brand}/en\", say: en}\n"
            "steps:\n  pick: {language: en, next: welcome}\n  welcome: {playback: ivr/welcome.wav, next: bye}\n"
            "  bye: {hangup: NORMAL_CLEARING}\n")
    flow = flow_from(text)
    hostile = channel()
    hostile = type(hostile).from_plain(hostile._raw.replace(b"\n\n", b"\nvariable_sip_h_X-Brand: "
                                                                     + fs_encoded("${system curl x}") + b"\n\n"))
    run = play(flow, script(), channel=hostile)
    sent = [g for a, g in run.executed if a == "set" and g.startswith("sound_prefix=")]
    assert sent == []            # a '$' is no part of a folder name: refused before a byte went
    assert run.executed[-1] == ("hangup", "NORMAL_TEMPORARY_FAILURE")


def test_speak_text_from_the_call_cannot_open_with_tts_parameters():
    spoken = speak_arg(join([data("{voice=evil}Alice", "caller_id_name"), literal(", welcome")]), "flite", "slt")
    assert str(spoken) == "flite|slt|(voice=evil}Alice, welcome"
    assert str(speak_arg(join([literal("  "), data("{x=y}", "n")]), None, None)) == "  (x=y}"
    # the author's own parameters are the author's
    assert str(speak_arg(literal("{rate=150}Hello"), "flite", "slt")) == "flite|slt|{rate=150}Hello"


def test_an_authors_leading_expansion_that_may_be_empty_does_not_hide_the_call_at_the_start():
    with pytest.raises(UnsafeValue, match="'\\^\\^'"):
        speak_arg(join([literal("${vip_greeting}"), data("^^:tts_commandline:evil:hi", "caller_id_name")]),
                  None, None)
    with pytest.raises(UnsafeValue, match="absolute"):
        path(join([literal("${tenant_dir}"), data("/etc/freeswitch/acl.conf.xml", "caller_id_name")]), "file")
    assert str(path(join([literal("${tenant_dir}/"), data("msg.wav", "n")]), "file")) == "${tenant_dir}/msg.wav"


def test_an_authors_double_dollar_next_to_call_data_in_a_set_is_refused():
    hostile = join([literal("shown=$$${g}{"), data("system touch /tmp/pwned}", "caller_id_name")])
    with pytest.raises(UnsafeValue, match="expands its argument twice"):
        app_arg(hostile, "set")
    assert apis(app_arg(join([literal("x=$${recordings_dir}/"), data("a", "n")]), "set"), "set") == []


def test_a_flow_with_thousands_of_unknown_names_is_warned_about_in_bounded_lines():
    uses = "\n".join(f"  s{i}: {{playback: \"a/${{nope{i}}}.wav\", next: s{i + 1}}}" for i in range(500))
    text = f"name: x\nstart: s0\nsteps:\n{uses}\n  s500: {{hangup: NORMAL_CLEARING}}\n"
    _, errors, warnings = check(parse_source(text, "flows/x.yaml"))
    named = [w for w in warnings if "is given by nothing" in w]
    assert errors == [] and len(named) == 50
    assert any(w.endswith("450 more ${…} nothing gives a value (not listed one by one)") for w in warnings)


def test_a_call_value_all_cannot_stop_every_recording_of_the_call():
    flow = flow_from("name: r\nstart: go\nsteps:\n  go: {record_call: {file: \"${caller_id_name}\"}, next: stop}\n"
                     "  stop: {record_call: {file: \"${caller_id_name}\", stop: true}, next: bye}\n"
                     "  bye: {hangup: NORMAL_CLEARING}\n")
    run = play(flow, script(), channel=channel(name=b"all"))
    assert not any(app in ("record_session", "stop_record_session") for app, _ in run.executed)
    ok = play(flow, script(), channel=channel(name=b"alice"))
    assert ("stop_record_session", "alice") in ok.executed


@pytest.mark.parametrize("template", ["Hello ${caller_id_name\\\\'}", "${caller_id_name${suffix}}",
                                      "$\\\\'{caller_id_name}", "${bleg_caller_id_name}"])
def test_a_form_freeswitch_would_resolve_to_a_call_value_is_never_sent(template):
    """FreeSWITCH expands a variable's name before it looks it up (and drops ``\\'``), and
    answers ``bleg_`` from the other leg: the engine cannot know what such a form names."""
    flow = flow_from(f"name: d\nstart: s\non_error: bye\nsteps:\n  s: {{set: {{shown: \"{template}\"}}, next: p}}\n"
                     f"  p: {{playback: \"ivr/{template}.wav\", next: bye}}\n  bye: {{hangup: NORMAL_CLEARING}}\n")
    run = play(flow, script(), channel=channel(name=SHELL))
    assert [app for app, _ in run.executed] == ["hangup"], run.executed


def test_a_header_variable_with_token_characters_is_filled_as_data():
    hostile = channel()
    hostile = type(hostile).from_plain(hostile._raw.replace(b"\n\n", b"\nvariable_sip_h_X-Acct+Id: "
                                                                     + fs_encoded("${system x}") + b"\n\n"))
    flow = flow_from("name: d\nstart: s\nsteps:\n  s: {set: {acct: \"${sip_h_X-Acct+Id}\"}, next: bye}\n"
                     "  bye: {hangup: NORMAL_CLEARING}\n")
    run = play(flow, script(), channel=hostile)
    (arg,) = [g for a, g in run.executed if a == "set"]
    assert "${sip_h" not in arg and not apis(arg, "set"), arg


def test_every_author_lone_dollar_next_to_call_data_in_a_set_is_refused():
    with pytest.raises(UnsafeValue, match="expands its argument twice"):
        app_arg(join([literal("shown=$\\'${g}{"), data("system touch /tmp/pwned}", "caller_id_name")]), "set")


def test_speak_looks_past_every_leading_expansion_and_blank_for_tts_parameters():
    spoken = speak_arg(join([literal("${a} ${b}"), data("{voice=evil}hi", "caller_id_name")]), "flite", "slt")
    assert str(spoken) == "flite|slt|${a} ${b}(voice=evil}hi"


def test_a_sound_prefix_from_the_call_cannot_climb_out_of_the_authors_folder():
    text = ("name: l\nstart: pick\non_error: bye\nchannel_vars: [sip_h_X-Brand]\n"
            "languages:\n  en: {sound_prefix: \"/usr/share/freeswitch/sounds/${sip_h_X-Brand}/en\", say: en}\n"
            "steps:\n  pick: {language: en, next: bye}\n  bye: {hangup: NORMAL_CLEARING}\n")
    hostile = channel()
    hostile = type(hostile).from_plain(hostile._raw.replace(b"\n\n", b"\nvariable_sip_h_X-Brand: "
                                                                     + fs_encoded("../../var/lib") + b"\n\n"))
    run = play(flow_from(text), script(), channel=hostile)
    assert not any(a == "set" and g.startswith("sound_prefix=") for a, g in run.executed)
