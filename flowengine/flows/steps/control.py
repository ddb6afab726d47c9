"""Steps that decide or end: set, when, goto, hangup, transfer, return."""

from __future__ import annotations

from ...quoting import join, literal, words
from ..conditions import holds
from ..actions import Execute, Exit, Goto
from ..templates import expand


def set_(run, step):
    spec = step.spec
    for name, value in spec.get("vars", {}).items():
        run.vars[name] = run.expand(value)
    for app in ("set", "export"):
        for name, value in spec.get(app, {}).items():
            text = run.expand(value)
            yield Execute(app, join([literal(f"{name}="), text]))
            run.call_state.setdefault("channel_vars", {})[name] = text
    return "done"


def _limited(run, step, edge: str, target: str, limit: int | None, exceeded: str | None):
    if limit is None or run.count((step.name, edge)) <= limit:
        return Goto(target, edge)
    return Goto(exceeded, f"{edge}.exceeded" if edge != "goto" else "exceeded") if exceeded else "exceeded"


def when(run, step):
    spec = step.spec
    for i, branch in enumerate(spec["when"]):
        if holds(branch["if"], lookup=run.lookup, calendars=run.flow.calendars, now=run.now()):
            return _limited(run, step, f"when[{i}]", branch["goto"], branch.get("max"), branch.get("exceeded"))
    if "else" in spec:
        return Goto(spec["else"], "else")
    return "no_match"
    yield  # a generator, like every step


def goto(run, step):
    spec = step.spec
    return _limited(run, step, "goto", spec["goto"], spec.get("max"), spec.get("exceeded"))
    yield


def hangup(run, step):
    yield Execute("hangup", literal(step.spec.get("hangup") or "NORMAL_CLEARING"))
    return "hangup"


def transfer(run, step):
    spec = step.spec["transfer"]
    # the author's spaces split the words (before expansion); the call's may not
    parts = spec.split() if isinstance(spec, str) else [spec[k] for k in ("extension", "dialplan", "context")
                                                       if k in spec]
    arg = words([run.expand(p) for p in parts], "transfer", no_flag=True)
    yield Execute("transfer", arg)
    yield Exit("transfer")


def return_(run, step):
    return expand(step.spec["return"], run.lookup)
    yield
