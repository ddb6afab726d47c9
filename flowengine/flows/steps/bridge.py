"""bridge: ring targets one after another and report how it went.

FreeSWITCH hangs the caller up itself when a bridge fails unless ``continue_on_fail`` is
set on the caller's channel (bridge_fail_hangs_up_caller), and may hang up after a
connected bridge; both are set once per call so the flow always gets control back. The
result is ``variable_originate_disposition`` of the completion: SUCCESS (``call
accepted`` in some versions) after a connected call, USER_BUSY, NO_ANSWER, …
"""

from __future__ import annotations

from ...quoting import join, literal, target, variable_value, whole
from ..model import seconds
from ..actions import Execute
from .media import ensure_var

_NO_ANSWER = ("NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL", "ALLOTTED_TIMEOUT")


def _caller_id(run, caller_id: dict) -> list[str]:
    pairs = []
    for key, var in (("number", "origination_caller_id_number"), ("name", "origination_caller_id_name")):
        if key in caller_id:
            pairs.append(join([literal(var + "="), variable_value(run.expand(caller_id[key]))]))
    return pairs


def _block(open_: str, pairs: list[str], close: str) -> list[str]:
    if not pairs:
        return []
    out = [literal(open_)]
    for n, pair in enumerate(pairs):
        out += [literal(","), pair] if n else [pair]
    return out + [literal(close)]


def dial_string(run, spec: dict) -> str:
    """``{call-wide vars}[leg vars]target|[leg vars]target`` from a bridge step; call data
    only as variable values and as a target's number (:mod:`flowengine.quoting.dialstring`)."""
    targets = spec["bridge"] if isinstance(spec["bridge"], list) else [spec["bridge"]]
    parts = _block("{", _caller_id(run, spec.get("caller_id") or {}), "}")
    for n, leg in enumerate(targets):
        if isinstance(leg, str):
            leg = {"to": leg}
        pairs = _caller_id(run, leg.get("caller_id") or {})
        timeout = leg.get("timeout", spec.get("timeout"))
        if timeout is not None:
            pairs.insert(0, literal(f"leg_timeout={int(seconds(timeout))}"))
        if n:
            parts.append(literal("|"))
        parts += _block("[", pairs, "]")
        parts.append(target(run.expand(leg["to"]), f"bridge target {n + 1}"))
    return whole(join(parts))


def bridge(run, step):
    yield from ensure_var(run, "continue_on_fail", "true")
    yield from ensure_var(run, "hangup_after_bridge", "false")
    done = yield Execute("bridge", dial_string(run, step.spec))
    disposition = done.variable("originate_disposition") or ""
    run.vars["bridge_disposition"] = disposition
    answered = disposition in ("SUCCESS", "call accepted")
    run.vars["bridge_hangup_cause"] = (done.variable("bridge_hangup_cause") or "") if answered else ""
    # bridge_hangup_cause stays on the channel after a connected bridge (it is in every
    # later event of bridge_answered): only this bridge's disposition can decide
    if answered:
        return "answered"
    if disposition == "USER_BUSY":
        return "busy"
    if disposition in _NO_ANSWER:
        return "no_answer"
    return "failed"
