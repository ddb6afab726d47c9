"""An ``execute`` step hands call data only to applications whose argument the engine knows
how to encode (flowengine/quoting/applications.py); anywhere else it is a ``--check`` error
and refused on the call before a byte is written.

The two reproductions from a real FreeSWITCH 1.10: a caller name ``x 1 system touch
/tmp/pwned #`` in ``limit_execute``'s argument ran ``system``, and a number
``7002,loopback/7001`` in ``bridge``'s rang a second leg."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from flowengine.call.flow_call import FlowCall
from flowengine.errors import UnsafeValue
from flowengine.flows import load_flows
from flowengine.runtime import FlowRun
from flowengine.flows.flowset import FlowSet
from flowengine.preflight.hosts import Hosts as HostApplications
from flowengine.runtime.interpreter import _encoded
from flowengine.flows.model import Flow, Step
from flowengine.flows.source import parse_source
from flowengine.flows.steps import KEYS, KINDS
from flowengine.flows.steps.execute import standard_applications
from flowengine.flows.validate import check
from flowengine.quoting.applications import ALLOWED, MAX_DTMF, MAX_SLEEP_MS
from flowengine.quoting.text import Text, untrusted_mask
from flowengine.session import Timeouts
from flowengine.testing.memory import converse
from flowengine.testing.scripted import ScriptedFreeSwitch

from . import freeswitch_model as fs
from .flowkit import complete, flow_from, play
from .test_quoting_flows import channel

PWNED = "x 1 system touch /tmp/pwned #"
SECOND_LEG = "7002,loopback/7001"

REPRODUCTIONS = """
name: repro
start: b
on_error: oops
steps:
  b: {execute: {app: limit_execute, arg: "hash inbound ${caller_id_name} 5 playback ivr/busy.wav"}, next: c}
  c: {execute: {app: bridge, arg: "loopback/${caller_id_number}"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
  oops: {hangup: CALL_REJECTED}
"""


def unchecked(text: str, name: str = "flows/unchecked.yaml") -> Flow:
    """The flow as the interpreter runs it, without ``--check`` (which refuses it): the call's
    own refusal must hold whatever was loaded."""
    source = parse_source(text, name)
    data = source.data
    steps = {}
    for step_name, spec in data["steps"].items():
        kind = KEYS[next(key for key in KEYS if key in spec)]
        steps[step_name] = Step(step_name, kind, spec, spec.get("next"), dict(spec.get("on", {})))
    return Flow(name=data["name"], source=source, start=data["start"], steps=steps, on_error=data.get("on_error"),
                vars=dict(data.get("vars") or {}), params=dict(data.get("params") or {}))


def errors_of(text: str) -> list[str]:
    return check(parse_source(text, "flows/x.yaml"))[1]


class Tap(ScriptedFreeSwitch):
    """The scripted FreeSWITCH, keeping every byte the engine wrote."""

    def __init__(self, sent: list, **kw) -> None:
        super().__init__(**kw)
        self.sent = sent

    def receive(self, data):
        self.sent.append(data)
        return super().receive(data)


def over_the_wire(flow: Flow, **caller) -> tuple[FlowCall, bytes]:
    flows = FlowSet(flows={flow.name: flow}, default=flow)
    call = FlowCall(lambda: flows, Timeouts(), run_options={"trace": True}, hosts=HostApplications(enabled=False))
    sent: list = []
    converse(call, Tap(sent, destination="1000", **caller))
    return call, b"".join(sent)


# -- the reproductions ----------------------------------------------------------------------
def test_the_caller_name_never_reaches_limit_execute_and_on_error_runs():
    call, wire = over_the_wire(unchecked(REPRODUCTIONS), caller_name=PWNED)
    assert b"pwned" not in wire and b"limit_execute" not in wire and b"execute-app-name: bridge" not in wire
    assert call.run.visited == ["b", "oops"]
    assert call.run.executed[-1] == ("hangup", "CALL_REJECTED")
    assert b"hangup-cause: CALL_REJECTED" in wire


@pytest.mark.parametrize("number", [SECOND_LEG, "7002%2Cloopback/7001"])
def test_the_caller_number_never_reaches_bridge_and_on_error_runs(number):
    flow = unchecked(REPRODUCTIONS.replace("start: b", "start: c"))
    call, wire = over_the_wire(flow, caller=number)
    assert b"loopback" not in wire and b"execute-app-name: bridge" not in wire
    assert call.run.visited == ["c", "oops"] and b"hangup-cause: CALL_REJECTED" in wire


def test_check_names_the_application_and_the_value():
    errors = errors_of(REPRODUCTIONS)
    assert len(errors) == 2, errors
    assert errors[0].startswith("flows/x.yaml:6:37: step 'b': limit_execute takes no call data, and "
                                "${caller_id_name} can hold it"), errors
    assert errors[1].startswith("flows/x.yaml:7:30: step 'c': bridge takes no call data, and "
                                "${caller_id_number} can hold it"), errors


def test_an_empty_value_from_the_call_is_refused_too():
    # "hash inbound  5 playback …": an empty name would move every later word one place
    call, wire = over_the_wire(unchecked(REPRODUCTIONS), caller_name="")
    assert b"limit_execute" not in wire and call.run.visited == ["b", "oops"]


def test_a_name_left_for_freeswitch_to_fill_is_refused_and_the_authors_api_is_not():
    flow = unchecked(REPRODUCTIONS.replace("${caller_id_name}", "${sip_h_X-Nowhere}"))
    call, wire = over_the_wire(flow)
    assert b"limit_execute" not in wire and call.run.visited == ["b", "oops"]
    flow = unchecked(REPRODUCTIONS.replace("${caller_id_name}", "${strftime(%Y)}").replace("next: c", "next: bye"))
    call, wire = over_the_wire(flow)
    assert b"limit_execute" in wire and b"hash inbound ${strftime(%Y)} 5 playback ivr/busy.wav" in wire


def test_a_literal_value_replaced_by_a_restored_one_is_call_data():
    # passes --check; after a failover the restored frame holds plain str (checkpoint.py),
    # which is the call's: refused on the call all the same
    flow = flow_from("""
name: r
start: b
on_error: oops
vars: {who: Alice}
steps:
  b: {execute: {app: limit_execute, arg: "hash inbound ${who} 5 playback ivr/busy.wav"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
  oops: {hangup: CALL_REJECTED}
""")
    run = FlowRun(flow, channel=channel())
    run.vars["who"] = PWNED
    assert run.start().app == "hangup" and run.visited == ["b", "oops"]
    run = FlowRun(flow, channel=channel())
    assert run.start().arg == "hash inbound Alice 5 playback ivr/busy.wav"


# -- what --check counts as the flow's own text ---------------------------------------------
LITERAL = """
name: l
start: s
vars: {realm: inbound, key: "${realm}_calls", today: "${strftime(%Y-%m-%d)}"}
steps:
  s: {vars: {limit: "5", file: ivr/busy.wav}, next: b}
  b: {execute: {app: limit_execute, arg: "hash ${realm} ${key}${today} ${limit} playback ${file}"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def test_a_flow_variable_set_to_literal_text_stays_allowed():
    flow = flow_from(LITERAL)
    run = play(flow, lambda c: complete(c.app, c.arg))
    assert ("limit_execute", "hash inbound inbound_calls${strftime(%Y-%m-%d)} 5 playback ivr/busy.wav") \
        in run.executed


@pytest.mark.parametrize("change,name", [
    (("limit: \"5\"", "limit: \"${caller_id_name}\""), "${limit}"),           # a step's vars from the call
    (("realm: inbound", "realm: \"${caller_id_name}\""), "${realm}"),         # the flow's vars from the call
    (("realm: inbound", "realm: \"${sip_h_X-Realm}\""), "${realm}"),          # ... from the channel
    (("limit: \"5\"", "limit: \"${realm}\""), "${limit}"),                    # expanded: restored as call data
    (("s: {vars:", "s: {set:"), "${limit}"),                                   # a channel variable
    (("vars: {realm", "params: {realm: {type: string}}\nvars: {x"), "${realm}"),  # a parameter
    (("${limit} playback", "${Limit} playback"), "${Limit}"),                 # not the flow's spelling
    (("${limit} playback", "${limit:0:1} playback"), "${limit:0:1}"),         # a slice
    (("${limit} playback", "${execute_result} playback"), "${execute_result}"),
    (("${limit} playback", "${digits} playback"), "${digits}"),
])
def test_a_variable_the_call_can_set_is_call_data(change, name):
    errors = errors_of(LITERAL.replace(*change))
    assert len(errors) == 1 and "limit_execute takes no call data" in errors[0] and name in errors[0], errors


def test_a_name_the_flow_sets_to_literal_text_and_elsewhere_from_the_call_is_call_data():
    body = LITERAL.replace("  bye:", "  h: {http: {url: 'http://crm.example/x', save: {file: a.b}}, next: b}\n  bye:")
    errors = errors_of(body)
    assert len(errors) == 1 and "${file}" in errors[0] and "step 'h' (http)" in errors[0], errors
    body = LITERAL.replace("key: \"${realm}_calls\"", "key: \"${who}_calls\", who: \"${caller_id_name}\"")
    errors = errors_of(body)
    assert len(errors) == 1 and "${key}" in errors[0] and "reads ${who}" in errors[0], errors


def test_the_bundled_flows_pass_check():
    flows = load_flows(Path(__file__).resolve().parents[1] / "flows")    # raises on any error
    assert flows.flows


# -- the applications that take call data -------------------------------------------------------
def run_execute(app: str, template: str, **values: str):
    """The command an execute step sends, encoded as the interpreter encodes it."""
    flow = unchecked(f"name: e\nstart: s\nsteps:\n  s: {{execute: {{app: {app}, arg: '{template}'}}}}\n")
    run = FlowRun(flow, channel=channel(name=values.get("name", "Alice").encode()))
    run.vars.update({k: v for k, v in values.items() if k != "name"})
    return run.start()


def test_log_takes_call_data_as_its_message_with_line_ends_as_spaces():
    sent = run_execute("log", "INFO ${x} called", x="Eve\nX-Forged: 1\r\nnext")
    assert (sent.app, sent.arg) == ("log", "INFO Eve X-Forged: 1  next called")
    assert run_execute("log", "${x} called", x="ERR boom").app == "hangup"       # the call would pick the level


@pytest.mark.parametrize("value,sent", [
    ("welcome", "ivr/welcome.wav"), ("/etc/x", "ivr//etc/x.wav"), ("../../../etc/passwd", None),
    ("x@@8000", None), ("a!b", None), ("a b", None)])
def test_playback_takes_call_data_as_file_names(value, sent):
    command = run_execute("playback", "ivr/${x}.wav", x=value)
    assert (command.app, command.arg) == (("playback", sent) if sent else ("hangup", "NORMAL_TEMPORARY_FAILURE"))
    assert run_execute("playback", "say:${x}", x="welcome").app == "hangup"     # a module the call would name
    assert run_execute("endless_playback", "ivr/${x}.wav", x="welcome").arg == "ivr/welcome.wav"


@pytest.mark.parametrize("app,value,sent", [
    ("send_dtmf", "123#", "123#"), ("send_dtmf", "1+5@2000", None), ("send_dtmf", "1" * 100, None),
    ("sleep", "1500", "1500"), ("sleep", "-1", None), ("sleep", "86400001", None)])
def test_digits_and_milliseconds(app, value, sent):
    command = run_execute(app, "${x}", x=value)
    assert (command.app, command.arg) == ((app, sent) if sent else ("hangup", "NORMAL_TEMPORARY_FAILURE"))


# -- properties: the model of FreeSWITCH's parsing is the judge ---------------------------------
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HOSTILE = st.text(st.sampled_from(list("$${}\\'\"()[]<>,|:_^%=!/.@+# \n\r\t-a1A9*")) | st.characters(
    codec="utf-8", exclude_categories=["Cs"]), max_size=12)
#: what a caller who knows the parser sends: values that pass as digits, names or words
CRAFTED = st.text(st.sampled_from(list("0123456789*#ABCDabcd.-_/@+ ")), max_size=12)
VALUE = HOSTILE | CRAFTED
FS_VALUES = {"sound_prefix": "/usr/share/sounds", "domain": "example.com"}
DTMF = set("0123456789*#ABCDabcd")


class Values:
    """What a step reads of the run: the call's values, by name."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.vars: dict = {}

    def lookup(self, name: str):
        return self.values.get(name)


def sent(app: str, template: str, values: dict[str, str]) -> fs.Chars | None:
    """What ``app`` receives from FreeSWITCH's expansion, each character with its origin;
    None when the engine refused to send it."""
    gen = KINDS["execute"].run(Values(values), Step("s", "execute", {"execute": {"app": app, "arg": template}}))
    try:
        command = next(gen)
        final = _encoded(command)
    except UnsafeValue:
        return None
    marked = command.arg
    mask = untrusted_mask(marked)
    origins, i = [], 0
    for c in final.arg:                    # app_arg only inserts (a space, a backslash)
        if i < len(marked) and c == marked[i]:
            origins.append((c, "author" if mask[i] is None else "call"))
            i += 1
        else:
            origins.append((c, "engine"))
    assert i == len(marked)
    cs, _ = fs.expand_passes(origins, 1, FS_VALUES.get)
    return cs


def from_call(cs: fs.Chars) -> bool:
    return any(o == "call" for _, o in cs)


def log_parse(cs: fs.Chars):
    """log_function: the word before the first space is the level, when there is a space."""
    space = next((i for i, (c, _) in enumerate(cs) if c == " "), None)
    return (None, cs) if space is None else (cs[:space + 1], cs[space + 1:])


def playback_parse(cs: fs.Chars) -> dict:
    """playback_function's ``@@`` cut, then what switch_ivr_play_file / switch_core_file_open
    read as structure: a prefix or module before the first ':', a leading ``{…}``, an absolute
    path, ``..`` segments."""
    text = fs.text_of(cs)
    at = text.find("@")
    cut = at if at >= 0 and text[at + 1:at + 2] == "@" else len(text)
    file = cs[:cut]
    ftext = fs.text_of(file)
    colon = ftext.find(":")
    brace = ftext.find("}") if ftext.startswith("{") else -1
    segments, start = [], 0
    for n, piece in enumerate(ftext.split("/")):
        segments.append((piece, file[start:start + len(piece)]))
        start += len(piece) + 1
    return {"samples": cs[cut:], "prefix": file[:colon + 1] if colon >= 0 else [],
            "params": file[:brace + 1] if brace >= 0 else [], "absolute": file[:1] if ftext[:1] == "/" else [],
            "climbs": [chars for piece, chars in segments if piece == ".."],
            "ats": [(c, o) for c, o in cs if c == "@"]}


TEMPLATES = {
    "log": st.lists(st.sampled_from(["INFO ", "ERR", " ", "a", "${v1}", "${v2}", "${sound_prefix}", "$", "\\",
                                     "'", "{", "}", ":", "${expr(1 + 1)}"]), max_size=6),
    "playback": st.lists(st.sampled_from(["ivr/", "${v1}", "${v2}", "${sound_prefix}/", ".wav", "@@100", "@",
                                          "say:", "file_string://", "!", "{vol=2}", "/", "..", "a", ":", "://"]),
                         max_size=6),
    "send_dtmf": st.lists(st.sampled_from(["1", "#", "+", "@", "500", "${v1}", "${v2}", "'", "\\", "0" * 95]),
                          max_size=6),
    "sleep": st.lists(st.sampled_from(["1", "0", "000", "${v1}", "${v2}", " ", "-", "99999999"]), max_size=4),
}


def assert_parsed_as_written(app: str, cs: fs.Chars) -> None:
    """What ``app`` makes of its argument: every character that decides how it is read is
    the author's (or FreeSWITCH's own), never the call's."""
    calls = [c for c, o in cs if o == "call"]
    if app == "log":
        level, message = log_parse(cs)
        assert level is not None and not from_call(level), cs
        assert not any(c < " " or "\x7f" <= c <= "\x9f" for c, o in message if o == "call"), cs
    elif app in ("playback", "endless_playback"):
        parsed = playback_parse(cs)
        for part in ("samples", "prefix", "params", "absolute", "ats"):
            assert not from_call(parsed[part]), (part, cs)
        assert not any(from_call(chars) for chars in parsed["climbs"]), cs
    elif app == "send_dtmf":
        assert len(cs) <= MAX_DTMF and set(calls) <= DTMF, cs   # no '+', '@', quote or escape of the call's
    else:
        assert re.fullmatch(r"[0-9]+", fs.text_of(cs)) and int(fs.text_of(cs)) <= MAX_SLEEP_MS, cs


@pytest.mark.parametrize("app", sorted(ALLOWED))
@SETTINGS
@given(data=st.data(), v1=VALUE, v2=VALUE)
def test_call_data_never_changes_how_an_allowed_application_reads_its_argument(app, data, v1, v2):
    pieces = data.draw(TEMPLATES["playback" if app == "endless_playback" else app], label="template")
    cs = sent(app, "".join(pieces), {"v1": v1, "v2": v2})
    if cs is not None and from_call(cs):
        assert_parsed_as_written(app, cs)


@pytest.mark.parametrize("app,template,v1", [
    ("log", "${expr(1 + 1)}${v1}", "ERR boom"), ("log", "INFO ${v1}", "a\nb"), ("playback", "ivr/a.wav@@${v1}", "9"),
    ("playback", "ivr/${v1}@@100", "a@"), ("playback", "shout://${v1}/x.mp3", "evil.example"),
    ("endless_playback", "${v1}:ivr/x", "say"), ("send_dtmf", "0" * 95 + "${v1}", "12345"),
    ("send_dtmf", "1@${v1}", "+9"), ("sleep", "99999999${v1}", "9")])
def test_the_cases_that_would_change_the_parse(app, template, v1):
    cs = sent(app, template, {"v1": v1})
    if cs is not None and from_call(cs):
        assert_parsed_as_written(app, cs)


NOT_ALLOWED = sorted(standard_applications() - set(ALLOWED))


@SETTINGS
@given(st.sampled_from(NOT_ALLOWED), st.sampled_from(["${v1}", "a ${v1} b", "${v1}${v2}", "x/${v2}"]),
       VALUE, VALUE)
@example("limit_execute", "hash inbound ${v1} 5 playback ivr/busy.wav", PWNED, "")
@example("bridge", "x/${v2}", "", SECOND_LEG)
def test_no_other_application_receives_anything_of_the_call(app, template, v1, v2):
    assert sent(app, template, {"v1": v1, "v2": v2}) is None


def test_an_application_not_allowed_still_takes_the_authors_own_text():
    cs = sent("limit_execute", "hash inbound ${v1} 5 playback x.wav", {"v1": Text("lit", ())})
    assert fs.text_of(cs) == "hash inbound lit 5 playback x.wav"
