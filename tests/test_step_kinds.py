"""The step kinds are the one source: the schema file, the docs' step pages, validation,
the graph, coverage and the interpreter all read them."""

from __future__ import annotations

import json
from pathlib import Path

from flowengine.flows import schema as flow_schema
from flowengine.flows.steps import KEYS, KINDS, MODULES, StepKind
from flowengine.flows.validate import SCHEMA_PATH, validator

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_schema_is_the_one_the_kinds_make():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == flow_schema.schema_text(), \
        "run: python3 -m flowengine.flows.generate"
    assert (ROOT / "schema" / "flow.schema.json").read_text(encoding="utf-8") == flow_schema.schema_text()


def test_the_docs_step_table_is_the_one_the_kinds_make():
    from flowengine.flows import step_docs
    index = (ROOT / "docs" / "steps" / "index.md").read_text(encoding="utf-8")
    assert index == step_docs.pages(ROOT)["docs/steps/index.md"], "run: python3 -m flowengine.flows.generate"


def test_every_kind_is_a_module_of_its_own_with_a_runner_and_its_keys_in_the_schema():
    step = validator().schema["$defs"]["step"]["properties"]
    for name, kind in KINDS.items():
        assert isinstance(kind, StepKind)
        assert kind.run is not None or kind.calls_flow is not None    # a called flow: the run's frames
        for key in kind.keys:
            assert key in step and KEYS[key] == name
        assert kind.run is None or kind.run.__module__ == f"flowengine.flows.steps.{MODULES[name]}"
        assert MODULES[name].rstrip("_") == name
    assert set(step) == {"description", "next", "on"} | set(KEYS) | {k for kind in KINDS.values() for k in kind.step_keys}


def test_a_kind_missing_from_the_registry_cannot_pass_the_schema():
    # what used to be a KeyError on a live call: a step key no kind claims is a schema error
    errors = list(validator().iter_errors({"name": "x", "start": "a", "steps": {"a": {"voicemail": "box"}}}))
    assert errors


# -- execute ------------------------------------------------------------------------------
from flowengine.flows.source import parse_source  # noqa: E402
from flowengine.flows.validate import check  # noqa: E402

from .flowkit import complete, flow_from, play  # noqa: E402

EXECUTE = """
name: x
start: s
steps:
  s:
    execute: {app: %s, arg: "%s"%s}
    on: {"/^ok/": good, "-ERR no": bad}
    next: bye
  good: {hangup: NORMAL_CLEARING}
  bad: {hangup: CALL_REJECTED}
  bye: {hangup: NORMAL_CLEARING}
"""


def test_execute_takes_its_outcome_from_the_response_or_a_variable():
    flow = flow_from(EXECUTE % ("valet_park", "lot1 auto in 100 199", ""))
    run = play(flow, lambda c: complete(c.app, c.arg, "ok parked"))
    assert run.executed[0] == ("valet_park", "lot1 auto in 100 199") and run.visited == ["s", "good"]
    flow = flow_from(EXECUTE % ("valet_park", "lot", ", result: valet_status"))
    run = play(flow, lambda c: complete(c.app, c.arg, "ok", valet_status="-ERR no"))
    assert run.visited == ["s", "bad"] and run.vars["execute_result"] == "-ERR no"
    run = play(flow, lambda c: complete(c.app, c.arg, "ok", valet_status="other"))
    assert run.visited == ["s", "bye"]


def test_execute_warns_on_an_application_a_standard_freeswitch_lacks():
    _, errors, warnings = check(parse_source(EXECUTE % ("no_such_app", "x", ""), "flows/x.yaml"))
    assert not errors and any("flows/x.yaml:6:" in w and "'no_such_app'" in w and "DESTINATION_OUT_OF_ORDER" in w
                              for w in warnings), warnings
    _, _, warnings = check(parse_source(EXECUTE % ("send_dtmf", "1", ""), "flows/x.yaml"))
    assert not warnings


def test_execute_without_waiting_has_no_outcome_to_branch_on():
    _, errors, _ = check(parse_source(EXECUTE % ("sched_hangup", "+60", ", wait: false"), "flows/x.yaml"))
    assert any("wait: false" in e for e in errors)


def test_no_call_data_reaches_an_application_that_runs_code():
    # refused when the flow is checked (tests/test_execute_call_data.py: and on a call)
    _, errors, _ = check(parse_source(EXECUTE % ("system", "echo ${caller_id_name}", ""), "flows/x.yaml"))
    assert len(errors) == 1 and "system takes no call data" in errors[0] and "${caller_id_name}" in errors[0]
    run = play(flow_from(EXECUTE % ("system", "true", "")), lambda c: complete(c.app, c.arg, "ok"))
    assert run.executed[0] == ("system", "true")   # the author's own command is the author's


# -- the host's applications ------------------------------------------------------------------
from flowengine.call.flow_call import FlowCall  # noqa: E402
from flowengine.flows.flowset import FlowSet  # noqa: E402
from flowengine.preflight.hosts import Hosts as HostApplications
from flowengine.preflight.plan import parse_show_application  # noqa: E402
from flowengine.replay.fake import RECORDED_APPLICATIONS, ReplayFreeSwitch  # noqa: E402
from flowengine.session import Timeouts  # noqa: E402
from flowengine.testing.memory import converse  # noqa: E402
from flowengine.testing.scripted import ScriptedFreeSwitch  # noqa: E402

from .conftest import load  # noqa: E402

REPLAY_DIR = ROOT / "tests" / "flows" / "replay"


def _execute_flows():
    from flowengine.flows import load_flows
    return load_flows(REPLAY_DIR)


def test_the_recorded_host_lists_its_applications():
    names = parse_show_application(RECORDED_APPLICATIONS)
    assert len(names) == 152 and {"answer", "conference", "send_dtmf", "sched_hangup"} <= names
    assert "no_such_application" not in names and "152 total." not in names


def test_without_the_hosts_list_the_unknown_application_hangs_the_caller_up_as_recorded():
    flows = _execute_flows()
    call = FlowCall(lambda: flows, Timeouts(), run_options={"trace": True}, hosts=HostApplications(enabled=False))
    peer = ReplayFreeSwitch(load("any_application"))
    converse(call, peer)
    assert call.run.executed[-1] == ("no_such_application", "x")
    assert call.run.result == "gone" and call.run.cause == "DESTINATION_OUT_OF_ORDER"


class Tap(ScriptedFreeSwitch):
    """The scripted FreeSWITCH, keeping what the engine wrote in ``sent``."""

    def __init__(self, sent: list, **kw) -> None:
        super().__init__(**kw)
        self.sent = sent

    def receive(self, data):
        self.sent.append(data)
        return super().receive(data)


def test_one_host_is_asked_once_and_the_application_it_lacks_is_never_sent():
    flows = _execute_flows()
    hosts = HostApplications()
    sent: list = []

    results = []
    for _ in range(2):
        peer = Tap(sent, destination="1110", lacks=("conference",), uuid=None)
        call = FlowCall(lambda: flows, Timeouts(), run_options={"trace": True}, hosts=hosts)
        converse(call, peer)
        results.append(call.run)
    wire = b"".join(sent)
    assert wire.count(b"api show application") == 1            # the host (one Core-UUID) asked once
    assert b"execute-app-name: conference" not in wire
    for run in results:
        assert run.result == "error" and run.executed[-1] == ("hangup", "NORMAL_TEMPORARY_FAILURE")
    peer = Tap(sent, destination="1110")
    call = FlowCall(lambda: flows, Timeouts(), run_options={"trace": True}, hosts=HostApplications())
    converse(call, peer)
    assert ("conference", "room1@default") in call.run.executed   # a host that has it


def test_flows_without_execute_never_ask():
    from flowengine.flows import load_flows
    flows = load_flows(ROOT / "flows")
    sent: list = []

    converse(FlowCall(lambda: flows, Timeouts(), hosts=HostApplications()),
             Tap(sent, destination="1000", actions=[{"press": "2"}]))
    assert sent and b"api show application" not in b"".join(sent)


def test_the_scripted_freeswitch_plays_each_application_as_its_kind_declares():
    from flowengine.flows.steps import APPLICATIONS
    assert not [name for name in dir(ScriptedFreeSwitch) if name.startswith("_app_")]
    fs = ScriptedFreeSwitch(destination="1000", record_ms=7000)
    assert b"Application-Response: _none_" in fs.run_app("say", "en number pronounced 5", "k1")
    assert fs.heard == ["say en number pronounced 5"]
    fs.run_app("record", "/tmp/m.wav 60 200 3", "k2")
    assert fs.vars["record_ms"] == "7000" and fs._duration("record", "/tmp/m.wav 60 200 3") == 7.0
    assert fs._duration("sleep", "1500") == 1.5 and fs._duration("no_such_app", "") == 0.0
    assert APPLICATIONS["playback"].hears == "caller hears"


def test_a_misspelt_hangup_cause_is_an_error_with_the_cause_it_meant():
    _, errors, _ = check(parse_source("""
name: h
start: bye
steps:
  bye: {hangup: NORMAL_CLEARNG}
""", "flows/h.yaml"))
    assert errors == ["flows/h.yaml:5:9: step 'bye': 'NORMAL_CLEARNG' is not a FreeSWITCH hangup cause "
                      "(FreeSWITCH would hang up with NORMAL_CLEARING instead); did you mean 'NORMAL_CLEARING'?"], errors


def test_say_takes_its_language_from_a_variable():
    flow = flow_from("""
name: s
start: s
vars: {lang: es}
steps:
  s: {say: {text: "5", language: "${lang}"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""")
    run = play(flow, lambda c: complete(c.app, c.arg))
    assert run.executed[0] == ("say", "es number pronounced 5")


def test_menu_choices_that_cannot_be_chosen_or_wait_for_the_timeout_are_reported():
    text = """
name: m
start: m
steps:
  m:
    menu: {prompt: p.wav, %s choices: {"1": bye, "12": bye, "22": bye}}
    on: {exhausted: bye}
  bye: {hangup: NORMAL_CLEARING}
"""
    _, errors, warnings = check(parse_source(text % "max_digits: 1,", "flows/m.yaml"))
    assert any("'12' can never be chosen: max_digits is 1" in e for e in errors)
    assert any("'22' can never be chosen" in e for e in errors)
    _, errors, warnings = check(parse_source(text % "", "flows/m.yaml"))
    assert not errors
    assert [w for w in warnings if "'1' is the start of '12'" in w and "digit timeout" in w]
