"""set / export / vars: channel variables (FreeSWITCH ``set`` / ``export``) and flow variables.

The three may share one step. ``set`` expands its value a second time (mod_dptools.c,
base_set), which the argument's encoding accounts for (:mod:`flowengine.quoting`). Each
``set`` names its variable and value (``Execute.variable``): the server makes it with
``api uuid_setvar`` instead, with no application and no events, wherever that sets the
same value (:mod:`flowengine.quoting.api`, :func:`flowengine.call.batching.collect`).
"""

from __future__ import annotations

from functools import partial

from ...quoting import join, literal, stored_value
from .. import taint
from ..effects import Execute
from .kind import Application, StepKind

_VALUES = {"type": "object", "additionalProperties": {"$ref": "#/$defs/scalar"}}


def run(flow_run, step):
    spec = step.spec
    for name, value in spec.get("vars", {}).items():
        flow_run.vars[name] = flow_run.expand(value)
    for app in ("set", "export"):
        for name, value in spec.get(app, {}).items():
            text = flow_run.expand(value)
            yield Execute(app, join([literal(f"{name}="), text]), variable=(name, text) if app == "set" else None)
            # the run reads what FreeSWITCH stores: never an array the call spelled
            flow_run.call_state.setdefault("channel_vars", {})[name] = stored_value(text)
    return "done"


def scripted(fs, arg: str, key: str, app: str = "set") -> bytes:
    """The variable is set (an empty value unsets it, as base_set does)."""
    name, _, value = arg.partition("=")
    name = name.removeprefix("nolocal:")
    if app == "unset" or not value:
        fs.vars.pop(name, None)
    else:
        fs.vars[name] = value
    return fs.events(app, arg, key)


def check(step, problems) -> None:
    """set/export of a variable FreeSWITCH runs or routes by, from call data: refused on every call."""
    for path, message in taint.variable_errors(step.spec, problems.flow):
        problems.error(path, message)


KIND = StepKind(
    "set",
    _VALUES,
    run,
    order=80,
    also=("export", "vars"),
    outcomes=("done",),
    instant=True,
    check=check,
    step_keys={"export": _VALUES, "vars": _VALUES},
    written="`set: {var: value}`, `export: {…}`, `vars: {…}`",
    does="channel variables (FreeSWITCH `set` / `export`); flow variables",
    applications={app: Application(partial(scripted, app=app)) for app in ("set", "export", "unset")},
    sets=lambda step: [name for key in ("set", "export", "vars") for name in step.spec.get(key) or {}],
    assigns=lambda step: step.spec.get("vars") or {},
    channel_sets=lambda step: [name for key in ("set", "export") for name in step.spec.get(key) or {}],
)
