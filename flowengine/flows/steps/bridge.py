"""bridge: ring targets one after another and report how it went.

FreeSWITCH hangs the caller up itself when a bridge fails unless ``continue_on_fail`` is
set on the caller's channel (bridge_fail_hangs_up_caller), and may hang up after a
connected bridge; both are set once per call so the flow always gets control back. The
result is ``variable_originate_disposition`` of the completion: SUCCESS (``call
accepted`` in some versions) after a connected call, USER_BUSY, NO_ANSWER, …
"""

from __future__ import annotations

import re

from ..model import seconds
from ..actions import Execute
from .media import ensure_var

_NO_ANSWER = ("NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL", "ALLOTTED_TIMEOUT")
_DIAL_UNSAFE = re.compile(r"[,\[\]{}<>|^'\"]")


def _dial_value(text: str) -> str:
    """A value inside {…} or […]: the characters that structure a dial string are dropped."""
    return _DIAL_UNSAFE.sub(" ", text).strip()


def _caller_id(run, caller_id: dict) -> list[str]:
    pairs = []
    if "number" in caller_id:
        pairs.append(f"origination_caller_id_number={_dial_value(run.expand(caller_id['number']))}")
    if "name" in caller_id:
        pairs.append(f"origination_caller_id_name={_dial_value(run.expand(caller_id['name']))}")
    return pairs


def dial_string(run, spec: dict) -> str:
    """``{call-wide vars}[leg vars]target|[leg vars]target`` from a bridge step."""
    targets = spec["bridge"] if isinstance(spec["bridge"], list) else [spec["bridge"]]
    common = _caller_id(run, spec.get("caller_id") or {})
    legs = []
    for target in targets:
        if isinstance(target, str):
            target = {"to": target}
        leg = _caller_id(run, target.get("caller_id") or {})
        timeout = target.get("timeout", spec.get("timeout"))
        if timeout is not None:
            leg.insert(0, f"leg_timeout={int(seconds(timeout))}")
        legs.append(("[" + ",".join(leg) + "]" if leg else "") + run.expand(target["to"]))
    return ("{" + ",".join(common) + "}" if common else "") + "|".join(legs)


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
