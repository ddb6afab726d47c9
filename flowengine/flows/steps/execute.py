"""execute: any FreeSWITCH application, for what no dedicated step covers.

``execute: {app: valet_park, arg: "lot1 auto in 100 199"}``; the outcome is the application's
``Application-Response`` (or, with ``result: name``, that channel variable of the
completion), matched against the ``on:`` keys exactly or as ``/patterns/``; ``done`` when
none matches. ``wait: false`` sends it with the next command without waiting for its
completion (for applications that complete at once: ``sched_hangup``, ``set_audio_level``).

The argument is encoded like every other (:mod:`flowengine.quoting`); applications that
run code or set globals take no call data at all. FreeSWITCH hangs the caller up when it
lacks the application (any_application: DESTINATION_OUT_OF_ORDER, no completion), so
``--check`` warns on a name outside FreeSWITCH 1.10's standard set
(``data/freeswitch_applications.txt``, from ``show application`` and the modules' source).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..effects import Execute
from ..model import is_pattern
from .common import matching_key
from .kind import Need, NeedKind, StepKind

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["app"], "properties": {
    "app": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$", "description": "The application's name."},
    "arg": {"$ref": "#/$defs/scalar", "description": "Its argument; ${name} as everywhere."},
    "result": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
               "description": "Take the outcome from this channel variable instead of Application-Response."},
    "wait": {"type": "boolean", "description": "Wait for the completion (default true)."}}}

_APPLICATIONS = Path(__file__).resolve().parents[1] / "data" / "freeswitch_applications.txt"


@lru_cache(maxsize=1)
def standard_applications() -> frozenset[str]:
    """The applications of a standard FreeSWITCH 1.10.12 build (name per line, then module)."""
    lines = _APPLICATIONS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.split()[0] for line in lines if line.strip() and not line.startswith("#"))


def run(flow_run, step):
    spec = step.spec["execute"]
    arg = flow_run.expand(spec["arg"]) if "arg" in spec else None
    if not spec.get("wait", True):
        yield Execute(spec["app"], arg, wait=False)
        return "done"
    done = yield Execute(spec["app"], arg)
    answer = done.variable(spec["result"]) if "result" in spec else done.application_response
    answer = answer or ""
    flow_run.vars["execute_result"] = answer
    return matching_key(step.on, answer) or "done"


def check(step, problems) -> None:
    spec = step.spec["execute"]
    if spec["app"] not in standard_applications():
        problems.warning(("execute", "app"), f"{spec['app']!r} is not an application of a standard FreeSWITCH "
                         "1.10 build: a host without it hangs the caller up (DESTINATION_OUT_OF_ORDER)")
    if not spec.get("wait", True) and step.on:
        problems.error(("on",), "wait: false has no completion to take an outcome from: use next")
    for key in step.on:
        if is_pattern(key):
            problems.pattern(key[1:-1], ("on", key))


def needs(step):
    """The application: a host without it hangs the caller up (any_application)."""
    return [Need(NeedKind.APPLICATION, step.spec["execute"]["app"], ("execute", "app"))]


KIND = StepKind("execute", SCHEMA, run, order=170, outcomes=("done",), accepts=lambda key: True, check=check, needs=needs,
                written="`execute: {app, arg, result, wait}`",
                does="any FreeSWITCH application; `${execute_result}` holds what it answered",
                outcomes_doc="its `Application-Response` (or `result:` variable), exact or `/pattern/`; `done`",
                sets=lambda step: ("execute_result",) + ((step.spec["execute"]["result"],)
                                                         if isinstance(step.spec["execute"], dict)
                                                         and "result" in step.spec["execute"] else ()))
