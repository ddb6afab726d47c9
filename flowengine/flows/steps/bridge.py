"""bridge: ring targets one after another and report how it went.

FreeSWITCH hangs the caller up itself when a bridge fails unless ``continue_on_fail`` is
set on the caller's channel (bridge_fail_hangs_up_caller), and may hang up after a
connected bridge; both are set once per call so the flow always gets control back. The
result is ``variable_originate_disposition`` of the completion: SUCCESS (``call
accepted`` in some versions) after a connected call, USER_BUSY, NO_ANSWER, …
"""

from __future__ import annotations

import re

from ...quoting import Text, join, literal, target, variable_problems, variable_value, whole
from ...quoting.text import Span
from .. import taint
from ..effects import Execute
from ..model import duration
from .common import ensure_var
from .kind import Application, StepKind

SCHEMA = {
    "oneOf": [
        {"$ref": "#/$defs/bridge_target"},
        {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/bridge_target"}},
    ]
}

_NO_ANSWER = ("NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL", "ALLOTTED_TIMEOUT")


def _caller_id(flow_run, caller_id: dict) -> list[str]:
    pairs: list[str] = []
    for key, var in (("number", "origination_caller_id_number"), ("name", "origination_caller_id_name")):
        if key in caller_id:
            pairs.append(join([literal(var + "="), variable_value(flow_run.expand(caller_id[key]))]))
    return pairs


def _block(open_: str, pairs: list[str], close: str) -> list[str]:
    if not pairs:
        return []
    out: list[str] = [literal(open_)]
    for n, pair in enumerate(pairs):
        out += [literal(","), pair] if n else [pair]
    return out + [literal(close)]


def dial_string(flow_run, spec: dict) -> str:
    """``{call-wide vars}[leg vars]target|[leg vars]target`` from a bridge step; call data
    only as variable values and as a target's number (:mod:`flowengine.quoting.dialstring`)."""
    targets = spec["bridge"] if isinstance(spec["bridge"], list) else [spec["bridge"]]
    parts = _block("{", _caller_id(flow_run, spec.get("caller_id") or {}), "}")
    for n, leg in enumerate(targets):
        if isinstance(leg, str):
            leg = {"to": leg}
        pairs = _caller_id(flow_run, leg.get("caller_id") or {})
        timeout = leg.get("timeout", spec.get("timeout"))
        if timeout is not None:
            pairs.insert(0, literal(f"leg_timeout={int(duration(timeout))}"))
        if n:
            parts.append(literal("|"))
        parts += _block("[", pairs, "]")
        parts.append(target(flow_run.expand(leg["to"]), f"bridge target {n + 1}"))
    return whole(join(parts))


def run(flow_run, step):
    yield from ensure_var(flow_run, "continue_on_fail", "true")
    yield from ensure_var(flow_run, "hangup_after_bridge", "false")
    done = yield Execute("bridge", dial_string(flow_run, step.spec))
    disposition = done.variable("originate_disposition") or ""
    flow_run.vars["bridge_disposition"] = disposition
    answered = disposition in ("SUCCESS", "call accepted")
    flow_run.vars["bridge_hangup_cause"] = (done.variable("bridge_hangup_cause") or "") if answered else ""
    # bridge_hangup_cause stays on the channel after a connected bridge (it is in every
    # later event of bridge_answered): only this bridge's disposition can decide
    if answered:
        return "answered"
    if disposition == "USER_BUSY":
        return "busy"
    if disposition in _NO_ANSWER:
        return "no_answer"
    return "failed"


#: a bridge step's outcomes; the ones a test case (``bridge:``) or ``run.py simulate`` gives a target
OUTCOMES = ("answered", "busy", "no_answer", "failed")
#: bridge outcome words of a test case -> (originate_disposition, DIALSTATUS)
BRIDGE_RESULTS = {
    "answered": ("SUCCESS", "SUCCESS"),
    "busy": ("USER_BUSY", "BUSY"),
    "no_answer": ("NO_ANSWER", "NOANSWER"),
    "failed": ("NO_ROUTE_DESTINATION", "NO_ROUTE_DESTINATION"),
}
_SPARED = ("NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL")  # not hung up without continue_on_fail
_DIAL_PREFIX = re.compile(r"^(\{[^}]*\}|\[[^\]]*\]|<[^>]*>)+")


def scripted(fs, arg: str, key: str) -> bytes:
    """Each target answers as the case says (``bridge:``), else answered; a failure hangs
    the caller up unless ``continue_on_fail`` is set (bridge_fail_hangs_up_caller)."""
    dial = re.sub(r"^\{[^}]*\}", "", arg)  # {vars for every leg}
    outcome = "failed"
    for leg in dial.split("|"):
        target = _DIAL_PREFIX.sub("", leg)
        outcome = fs.bridge_outcome(target)
        if outcome == "answered":
            break
    disposition, status = BRIDGE_RESULTS[outcome]
    fs.vars["originate_disposition"] = disposition
    fs.vars["DIALSTATUS"] = status
    if outcome == "answered":
        fs.vars["bridge_hangup_cause"] = "NORMAL_CLEARING"
        between = fs.event("CHANNEL_BRIDGE") + fs.event("CHANNEL_UNBRIDGE")
        return fs.events("bridge", arg, key, between=between)
    if fs.vars.get("continue_on_fail") != "true" and disposition not in _SPARED:
        execute = fs.event(
            "CHANNEL_EXECUTE", ("Application", "bridge"), ("Application-Data", arg), ("Application-UUID", key)
        )
        return execute + fs.hang_up(disposition, ("bridge", arg, key))
    return fs.events("bridge", arg, key)


def ask(terminal, arg: str) -> None:
    """``run.py simulate``: each target in turn, as FreeSWITCH rings them (``|``), the next
    only if this one did not answer."""
    dial = re.sub(r"^\{[^}]*\}", "", arg)  # {vars for every leg}
    for leg in dial.split("|"):
        target = _DIAL_PREFIX.sub("", leg)
        answer = terminal.choose(f"bridge to {target}:", OUTCOMES, "answered")
        terminal.bridge[target] = answer
        if answer == "answered":
            break


def counted(outcome: str) -> str:
    """The outcome as ``flowengine_bridge_outcomes`` counts it: the caller leaving during
    the bridge (``gone``) as ``hangup``, so the labels stay few."""
    return "hangup" if outcome == "gone" else outcome


def check(step, problems) -> None:
    """A variable the author's ``{…}``/``[…]``/``<…>`` blocks set that FreeSWITCH runs or
    routes by (``api_on_answer``, ``execute_on_*``, …), with a value from the call: the
    call would refuse it every time (:func:`flowengine.quoting.variable_problems`)."""
    judgement = taint.judge(problems.flow)
    spec = step.spec["bridge"]
    legs = spec if isinstance(spec, list) else [spec]
    for n, leg in enumerate(legs):
        to = leg if isinstance(leg, str) else leg.get("to")
        if not isinstance(to, str):
            continue
        refs = taint.call_data(to, judgement)
        marked = Text(to, [Span(r.start, r.end, to[r.start : r.end]) for r in refs])
        for name, why in variable_problems(marked):
            path = ("bridge", n) if isinstance(spec, list) else ("bridge",)
            problems.error(path, f"{name}: {why}")


KIND = StepKind(
    "bridge",
    SCHEMA,
    run,
    order=60,
    check=check,
    outcomes=OUTCOMES,
    dial_outcome=counted,
    # the bridge runs on under FreeSWITCH when the host goes, and leaves its result
    # in channel variables: a checkpoint says so (:mod:`flowengine.runtime.checkpoint`)
    completes_alone="bridge",
    step_keys={"timeout": {"$ref": "#/$defs/duration"}, "caller_id": {"$ref": "#/$defs/caller_id"}},
    written="`bridge: target` or `[targets]`, with `timeout`, `caller_id: {number, name}`; a target "
    "may be `{to, timeout, caller_id}` of its own",
    does="ring in order; the caller always comes back to the flow",
    outcomes_doc="`answered` (after the call), `busy`, `no_answer`, `failed`; details in "
    "`${bridge_disposition}`, `${bridge_hangup_cause}`",
    applications={"bridge": Application(scripted, hears="ringing", asks=ask)},
    sets=("bridge_disposition", "bridge_hangup_cause", "originate_disposition", "DIALSTATUS"),
)
