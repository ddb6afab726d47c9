"""execute: any FreeSWITCH application, for what no dedicated step covers.

``execute: {app: valet_park, arg: "lot1 auto in 100 199"}``; the outcome is the application's
``Application-Response`` (or a ``result:`` variable of the completion), matched against ``on:``;
``done`` when none matches. Call data reaches only the applications of
:data:`flowengine.quoting.applications.ALLOWED`: anywhere else it is refused, and ``--check``
reports it (:mod:`flowengine.flows.taint`). The step: docs/writing-flows.md, "execute"; the
rules, with FreeSWITCH's source: docs/freeswitch.md, "execute".
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from ...quoting.applications import ALLOWED, allowed_names, argument, log_level_first
from ...quoting.text import is_trusted
from .. import taint
from ..effects import Execute
from ..model import is_pattern
from ..templates import expand
from .common import matching_key
from .kind import Need, NeedKind, StepKind

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["app"],
    "properties": {
        "app": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$", "description": "The application's name."},
        "arg": {"$ref": "#/$defs/scalar", "description": "Its argument; ${name} as everywhere."},
        "result": {
            "type": "string",
            "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
            "description": "Take the outcome from this channel variable instead of Application-Response.",
        },
        "wait": {"type": "boolean", "description": "Wait for the completion (default true)."},
    },
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.+~-]*")
_APPLICATIONS = Path(__file__).resolve().parents[1] / "data" / "freeswitch_applications.txt"


@lru_cache(maxsize=1)
def standard_applications() -> frozenset[str]:
    """The applications of a standard FreeSWITCH 1.10.12 build (name per line, then module)."""
    lines = _APPLICATIONS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.split()[0] for line in lines if line.strip() and not line.startswith("#"))


def run(flow_run, step):
    spec = step.spec["execute"]
    arg = _argument(flow_run, spec["app"], spec["arg"]) if "arg" in spec else None
    if not spec.get("wait", True):
        yield Execute(spec["app"], arg, wait=False)
        return "done"
    done = yield Execute(spec["app"], arg)
    answer = done.variable(spec["result"]) if "result" in spec else done.application_response
    answer = answer or ""
    flow_run.vars["execute_result"] = answer
    return matching_key(step.on, answer) or "done"


def _argument(flow_run, app: str, value) -> str:
    """The argument expanded as every flow value is, then made the application's
    (:func:`~flowengine.quoting.applications.argument`), with the names whose value came
    from the call, however short."""
    from_call: list[str] = []

    def lookup(name: str):
        found = flow_run.lookup(name)
        if found is not None and not is_trusted(found):
            from_call.append(name)
        return found

    return argument(app, expand(value, lookup), from_call)


def _check_call_data(spec: dict, problems) -> None:
    """An argument that names call data: an error unless the application takes it."""
    arg, app = spec.get("arg"), spec["app"]
    if not isinstance(arg, str):
        return
    judgement = taint.judge(problems.flow)
    found = taint.call_data(arg, judgement)
    if not found:
        return
    first = found[0]
    shown = ", ".join(dict.fromkeys(arg[r.start : r.end] for r in found[:3]))
    if not first.plain and first.name in judgement.literal:
        why = "a slice or an element of a value is marked as the call's"
    elif not first.plain and not _NAME.fullmatch(first.name):
        why = "FreeSWITCH would work out which variable it names"
    else:
        why = judgement.reason(first.name)
    if app not in ALLOWED:
        problems.error(
            ("execute", "arg"),
            f"{app} takes no call data, and {shown} can hold it ({why}): every call "
            f"would be refused here. Only {allowed_names()} take call data, each encoded for how it "
            "reads its argument; use a step made for the purpose, or a flow variable set to the "
            "flow's own text",
        )
    elif app == "log" and not log_level_first(arg, [(r.start, r.end, r.name) for r in found]):
        problems.error(
            ("execute", "arg"),
            f"{shown} can hold call data ({why}) and would stand where log reads "
            "its level (the word before the first space): write the level first, e.g. "
            "\"INFO ${caller_id_name} called\"",
        )


def check(step, problems) -> None:
    spec = step.spec["execute"]
    if spec["app"] not in standard_applications():
        problems.warning(
            ("execute", "app"),
            f"{spec['app']!r} is not an application of a standard FreeSWITCH "
            "1.10 build: a host without it hangs the caller up (DESTINATION_OUT_OF_ORDER)",
        )
    if not spec.get("wait", True) and step.on:
        problems.error(("on",), "wait: false has no completion to take an outcome from: use next")
    for key in step.on:
        if is_pattern(key):
            problems.pattern(key[1:-1], ("on", key))
    _check_call_data(spec, problems)


def needs(step):
    """The application: a host without it hangs the caller up (any_application)."""
    return [Need(NeedKind.APPLICATION, step.spec["execute"]["app"], ("execute", "app"))]


KIND = StepKind(
    "execute",
    SCHEMA,
    run,
    order=170,
    outcomes=("done",),
    accepts=lambda key: True,
    check=check,
    needs=needs,
    written="`execute: {app, arg, result, wait}`",
    does="any FreeSWITCH application; `${execute_result}` holds what it answered",
    outcomes_doc="its `Application-Response` (or `result:` variable), exact or `/pattern/`; `done`",
    sets=lambda step: (
        ("execute_result",)
        + (
            (step.spec["execute"]["result"],)
            if isinstance(step.spec["execute"], dict) and "result" in step.spec["execute"]
            else ()
        )
    ),
)
