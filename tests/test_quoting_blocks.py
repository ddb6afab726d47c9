"""Three classes an attack from outside found, each judged by the FreeSWITCH model
(tests/freeswitch_model.py): a variable FreeSWITCH runs set from call data through a block
the author writes in a bridge target, a one-word transfer that the channel's
``force_transfer_dialplan`` hands to the inline dialplan, and names the variable policy
missed. Each test ran wrong before its fix."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowengine.errors import UnsafeValue
from flowengine.flows.steps.bridge import dial_string
from flowengine.flows.templates import expand
from flowengine.quoting import Text, app_arg, variable_problems
from flowengine.quoting.api import setvar_args
from flowengine.quoting.text import Span

from . import freeswitch_model as fs
from .flowkit import complete, play
from .test_execute_call_data import unchecked
from .test_quoting_attack import UUID, _refused, first_command
from .test_quoting_flows import channel, fs_encoded
from .test_quoting_properties import HOSTILE, SETTINGS, FakeRun, on_the_wire, origins, passes


def _call(cs: fs.Chars) -> bool:
    return any(o == "call" for _, o in cs)


def _bridge(spec: dict, values: dict[str, str]) -> tuple[str, fs.DialString]:
    """The bridge argument the step sends for ``spec`` (encoded as every argument is) and
    the dial string the model reads from it after FreeSWITCH's expansion."""
    text = dial_string(FakeRun(values), spec)
    encoded = app_arg(text, "bridge")
    assert on_the_wire("bridge", encoded) == encoded
    cs, _ = passes(origins(encoded, text), 1)
    return encoded, fs.parse_dial_string(cs)


def _variables(parsed: fs.DialString) -> list[tuple[str, fs.Chars]]:
    return parsed.variables + [pair for leg in parsed.legs for pair in leg.variables]


def _path_escapes(value: fs.Chars) -> bool:
    """Whether the call made a path FreeSWITCH plays absolute or climbed out with '..'."""
    if value and value[0] == ("/", "call"):
        return True
    segment: fs.Chars = []
    for c in value + [("/", "end")]:
        if c[0] in "/,":  # fifo_chime_list is a list of files at ','
            if fs.text_of(segment) == ".." and _call(segment):
                return True
            segment = []
        else:
            segment.append(c)
    return False


# -- 1: the author's {…} / […] / <…> blocks set variables of the new leg --------------------------
RUNS = list(fs.API_VARIABLES + fs.APP_VARIABLES + fs.ROUTE_VARIABLES + fs.COPY_VARIABLES) + [
    "api_on_answer",
    "API_ON_ANSWER",
    "execute_on_answer_2",
    "bridge_pre_execute_bleg_app",
]
NAME = st.one_of(
    st.sampled_from(RUNS),
    st.sampled_from(fs.PATH_VARIABLES),
    st.sampled_from(["origination_caller_id_name", "sip_h_X-Account", "leg_timeout", "x"]),
)
BLOCKS = [
    "{N=V}user/1101",
    "[N=V]user/1101",
    "<N=V>user/1101",
    "{a=1,N=V}user/1101",
    "{^^;a=1;N=V}user/1101",
    "{a='x,y',N='V'}user/1101",
    "{a=1}{N=V}user/1101",
    "{a=1}[N=V]user/1101",
    "{ N = V }user/1101",
    "{N=V}user/${v}",
    "{'N'=V}user/1101",
]
VALUES = ["${v}", "uuid_kill ${v}", "sounds/${v}", "${v}.wav", "system ${v}"]
#: what a target's call data may hold (a number, a user, a UUID), and the rest
CALLER = st.one_of(
    st.text(st.sampled_from(list("abc019+*#._-")), max_size=12),
    st.sampled_from(["..", UUID, "hangup", "1001"]),
    HOSTILE,
)


@SETTINGS
@given(st.sampled_from(BLOCKS), NAME, st.sampled_from(VALUES), CALLER)
def test_call_data_reaches_no_variable_freeswitch_runs_through_the_authors_blocks(template, name, value, v):
    to = template.replace("N", name).replace("V", value)
    try:
        _, parsed = _bridge({"bridge": to}, {"v": v})
    except UnsafeValue:
        return
    for var, chars in _variables(parsed):
        if fs.variable_use(var) is not None:
            assert not _call(chars), (to, v, var, fs.text_of(chars))
        if fs.plays(var):
            assert not _path_escapes(chars), (to, v, var, fs.text_of(chars))


def test_the_api_on_answer_reproduction_is_refused_and_the_authors_own_block_is_sent():
    # the call would kill any call on the host whose UUID it sends as its caller ID number
    spec = {"bridge": "{api_on_answer=uuid_kill ${caller_id_number}}user/1101"}
    with pytest.raises(UnsafeValue, match="api_on_answer"):
        _bridge(spec, {"caller_id_number": UUID})
    sent, parsed = _bridge({"bridge": "{api_on_answer=log INFO answered}[leg_delay_start=1]user/${n}"}, {"n": "1101"})
    assert sent == "{api_on_answer=log INFO answered}[leg_delay_start=1]user/1101"
    assert [fs.text_of(leg.endpoint) for leg in parsed.legs] == ["user/1101"]
    # a variable FreeSWITCH only stores takes the call's number as before
    sent, _ = _bridge({"bridge": "{origination_caller_id_number=${n}}user/1101"}, {"n": "5551234"})
    assert sent == "{origination_caller_id_number=5551234}user/1101"


def test_a_block_one_target_opens_is_judged_with_the_next():
    # switch_find_end_paren looks for the block's end across the legs: the first target's
    # '{' closes in the second, so the call's number is in api_on_answer
    spec = {"bridge": ["{api_on_answer=uuid_kill ", "${caller_id_number}}user/1101"]}
    with pytest.raises(UnsafeValue, match="api_on_answer"):
        _bridge(spec, {"caller_id_number": UUID})


def test_the_call_chooses_no_block_variable_name():
    for to in ("{${v}=uuid_kill 1}user/1101", "{api_on_${v}=uuid_kill 1}user/1101"):
        with pytest.raises(UnsafeValue, match="name"):
            _bridge({"bridge": to}, {"v": "answer"})


def test_a_path_from_the_call_in_a_block_stays_inside_the_authors_folder():
    with pytest.raises(UnsafeValue, match=r"'\.\.'"):
        _bridge({"bridge": "{ringback=sounds/${v}/ring.wav}user/1101"}, {"v": ".."})
    sent, parsed = _bridge({"bridge": "{ringback=sounds/${v}/ring.wav}user/1101"}, {"v": "fr"})
    assert [(k, fs.text_of(v)) for k, v in parsed.variables] == [("ringback", "sounds/fr/ring.wav")]


def _marked(to: str) -> Text:
    """``to`` as written, each ``${…}`` marked as call data (what --check knows of it)."""
    return Text(to, [Span(m.start(), m.end(), m.group(0)) for m in re.finditer(r"\$\{[^}]*\}", to)])


def test_check_finds_call_data_in_a_block_variable_freeswitch_runs():
    found = variable_problems(_marked("{api_on_answer=uuid_kill ${caller_id_number}}user/1101"))
    assert [name for name, _ in found] == ["api_on_answer"] and "runs" in found[0][1]
    assert [n for n, _ in variable_problems(_marked("[transfer_on_fail=${x} XML default]user/1"))] == [
        "transfer_on_fail"
    ]
    assert [n for n, _ in variable_problems(_marked("{${x}=1}user/1101"))] == ["${x}"]
    # the author's own value, a variable FreeSWITCH only stores, a path (checked on the call)
    for fine in (
        "{api_on_answer=log INFO answered}user/${caller_id_number}",
        "{origination_caller_id_name=${caller_id_name}}user/1101",
        "{ringback=sounds/${lang}/ring.wav}user/1101",
        "user/${caller_id_number}",
    ):
        assert variable_problems(_marked(fine)) == [], fine


# -- 2: a transfer with no dialplan word goes where force_transfer_dialplan says --------------------
TRANSFERS = ["${v}", "-bleg ${v}", "${v} ", "^^:${v}", "${v} ''", "${v} XML", "'${v}'", "${v}\\"]
FORCED = st.sampled_from(
    [
        {},
        {"force_transfer_dialplan": "inline"},
        {"force_transfer_dialplan": "XML,inline"},
        {"force_transfer_dialplan": "inline", "force_transfer_context": "sales"},
    ]
)


@SETTINGS
@given(
    st.sampled_from(TRANSFERS),
    st.one_of(HOSTILE, st.sampled_from(["hangup", "1001", "park"])),
    FORCED,
    st.sampled_from(["XML", "inline"]),
)
def test_a_transfer_without_a_dialplan_never_runs_call_data_inline(template, v, channel_vars, profile):
    try:
        command = first_command({"transfer": template}, {"v": v}, "transfer")
    except UnsafeValue:
        return
    text = expand(" ".join(template.split()), {"v": v}.get)  # the step's words, one blank apart
    cs, _ = passes(origins(on_the_wire("transfer", command.arg), text), 1)
    transfer = fs.transfer_application(cs)
    apps = fs.routed_applications(transfer, channel_vars.get, profile)
    for app, data in apps or []:
        assert not _call(app) and not (data and _call(data)), (template, v, channel_vars, command.arg)


def test_the_force_transfer_dialplan_reproduction_transfers_to_xml_in_the_channels_context():
    flow = unchecked("""
name: a
start: s
steps:
  s: {set: {force_transfer_dialplan: inline}, next: t}
  t: {transfer: "${caller_id_number}"}
""")
    run = play(flow, lambda c: complete(c.app, c.arg), channel=channel(number=fs_encoded("hangup")))
    assert run.executed[-1] == ("transfer", "hangup XML")
    transfer = fs.transfer_application(fs.chars(run.executed[-1][1], "?"))
    forced = {"force_transfer_dialplan": "inline", "force_transfer_context": "sales"}
    # a named dialplan is used as named; the context is still the one the channel would use
    routed = [fs.text_of(part) for part in fs.session_transfer(transfer, forced.get, "XML", "public")]
    assert routed == ["XML", "sales"]
    assert [fs.text_of(part) for part in fs.session_transfer(transfer, {}.get, "XML", "public")] == ["XML", "public"]
    # the author's own extension, or one with its dialplan named, is sent as written
    assert first_command({"transfer": "1000"}, {}, "transfer").arg == "1000"
    assert first_command({"transfer": "${v} XML default"}, {"v": "1001"}, "transfer").arg == "1001 XML default"
    assert _refused(first_command, {"transfer": "${v} ''"}, {"v": "1001"}, "transfer")


# -- 3: names the policy missed -------------------------------------------------------------------
NEW_ROUTES = [
    "fifo_orbit_exten",
    "fifo_orbit_dialplan",
    "fifo_orbit_context",
    "campon_fallback_exten",
    "campon_fallback_dialplan",
    "campon_fallback_context",
    "hold_hangup_xfer_exten",
    "sip_route_uri",
    "sip_network_destination",
    "sip_redirect_dialplan",
    "sip_redirect_context",
]


@pytest.mark.parametrize("name", NEW_ROUTES + list(fs.COPY_VARIABLES))
def test_a_variable_freeswitch_routes_by_or_copies_by_takes_no_call_data(name):
    assert fs.variable_use(name) in ("route", "copy")
    for app in ("set", "export", "push", "unshift"):
        assert _refused(app_arg, expand(f"{name}=${{v}}", {"v": "inline"}.get), app), (app, name)
    assert _refused(setvar_args, UUID, name, expand("${v}", {"v": "api_hangup_hook"}.get))
    assert app_arg(expand(f"{name}=XML", {}.get), "set") == f"{name}=XML"


@pytest.mark.parametrize("name", fs.PATH_VARIABLES)
def test_a_variable_freeswitch_plays_takes_call_data_as_a_path(name):
    for value in ("../../../../etc/ssl/private/key", "/etc/passwd"):
        assert _refused(app_arg, expand(f"{name}=${{v}}", {"v": value}.get), "set"), (name, value)
    assert app_arg(expand(f"{name}=sounds/${{v}}.wav", {"v": "fr"}.get), "set") == f"{name}=sounds/fr.wav"


@pytest.mark.parametrize("prefix", ["nolocal:nolocal:", "_nolocal_nolocal:", "NOLOCAL:_nolocal_", "nolocal: nolocal:"])
def test_export_prefixes_are_stripped_however_many(prefix):
    # each hop may strip one (export, then originate's export_vars copy)
    assert _refused(app_arg, expand(f"{prefix}api_hangup_hook=${{v}}", {"v": "system x"}.get), "export")


def test_check_names_call_data_in_a_variable_the_authors_bridge_block_runs(tmp_path):
    """`--check` refuses what every call would: the caller's number as the argument of
    api_on_answer in a block the author wrote; the author's own value passes."""
    from flowengine.flows import FlowProblems
    from flowengine.flows.flowset import load_file

    text = """name: b
numbers: ["1000"]
start: b
steps:
  b: {bridge: "{api_on_answer=uuid_kill ${caller_id_number}}user/1101", next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""
    (tmp_path / "b.yaml").write_text(text)
    with pytest.raises(FlowProblems) as caught:
        load_file(tmp_path / "b.yaml")
    assert "b.yaml:5:" in str(caught.value) and "api_on_answer" in str(caught.value)
    (tmp_path / "b.yaml").write_text(text.replace("${caller_id_number}", "all"))
    load_file(tmp_path / "b.yaml")


@pytest.mark.parametrize("author", [" XML sales", " inline", ""])
def test_a_transfer_whose_call_data_starts_with_a_delimiter_change_is_refused(author):
    """`^^:` from the call would make `:` transfer's word delimiter (switch_separate_string):
    the author's dialplan and context would become part of the extension."""
    from flowengine.quoting.text import data, join, literal

    with pytest.raises(UnsafeValue, match=r"\^\^"):
        app_arg(join([data("^^:1234"), literal(author)]), "transfer")
    assert app_arg(join([data("1234"), literal(" XML sales")]), "transfer") == "1234 XML sales"
