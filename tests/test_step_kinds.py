"""The step kinds are the one source: the schema file, the README's table, validation,
the graph, coverage and the interpreter all read them."""

from __future__ import annotations

import json
from pathlib import Path

from flowengine.flows import schema as flow_schema
from flowengine.flows.steps import KEYS, KINDS, StepKind
from flowengine.flows.validate import SCHEMA_PATH, validator

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_schema_is_the_one_the_kinds_make():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == flow_schema.schema_text(), \
        "run: python3 -m flowengine.flows.schema"
    assert (ROOT / "schema" / "flow.schema.json").read_text(encoding="utf-8") == flow_schema.schema_text()


def test_the_readme_step_table_is_the_one_the_kinds_make():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert flow_schema.readme_table() in readme, "run: python3 -m flowengine.flows.schema and paste the table"


def test_every_kind_is_a_module_of_its_own_with_a_runner_and_its_keys_in_the_schema():
    step = validator().schema["$defs"]["step"]["properties"]
    for name, kind in KINDS.items():
        assert isinstance(kind, StepKind)
        assert kind.run is not None or name == "call"     # call: the interpreter's frames
        for key in kind.keys:
            assert key in step and KEYS[key] == name
        module = Path(__import__(kind.run.__module__ if kind.run else "flowengine.flows.steps.call",
                                 fromlist=["x"]).__file__).stem
        assert module.rstrip("_") == name
    assert set(step) == {"description", "next", "on"} | set(KEYS) | {k for kind in KINDS.values() for k in kind.step_keys}


def test_a_kind_missing_from_the_registry_cannot_pass_the_schema():
    # what used to be a KeyError on a live call: a step key no kind claims is a schema error
    errors = list(validator().iter_errors({"name": "x", "start": "a", "steps": {"a": {"conference": "room"}}}))
    assert errors


# -- execute ------------------------------------------------------------------------------
from flowengine.flows.source import parse_source  # noqa: E402
from flowengine.flows.validate import check  # noqa: E402

from .flowkit import complete, flow_from, play  # noqa: E402
from .test_quoting_flows import channel  # noqa: E402

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
    flow = flow_from(EXECUTE % ("valet_park", "lot ${caller_id_number}", ""))
    run = play(flow, lambda c: complete(c.app, c.arg, "ok parked"))
    assert run.executed[0] == ("valet_park", "lot 5551234") and run.visited == ["s", "good"]
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
    flow = flow_from(EXECUTE % ("system", "echo ${caller_id_name}", ""))
    run = play(flow, lambda c: complete(c.app, c.arg), channel=channel(name=b"x%3Bid"))
    assert run.executed == [("hangup", "NORMAL_TEMPORARY_FAILURE")]
    run = play(flow_from(EXECUTE % ("system", "true", "")), lambda c: complete(c.app, c.arg, "ok"))
    assert run.executed[0] == ("system", "true")   # the author's own command is the author's
