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
from ..interpreter import Execute
from .media import ensure_var

_NO_ANSWER = ("NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL", "ALLOTTED_TIMEOUT")
_DIAL_UNSAFE = re.compile(r"[,\[\]{}<>|^'\"]")


def _dial_value(text: str) -> str:
    """A value inside {…} or […]: the characters that structure a dial string are dropped."""
    return _DIAL_UNSAFE.sub(" ", text).strip()


def bridge(run, step):
    spec = step.spec
    targets = [spec["bridge"]] if isinstance(spec["bridge"], str) else list(spec["bridge"])
    yield from ensure_var(run, "continue_on_fail", "true")
    yield from ensure_var(run, "hangup_after_bridge", "false")
    prefix = ""
    caller_id = spec.get("caller_id") or {}
    pairs = []
    if "number" in caller_id:
        pairs.append(f"origination_caller_id_number={_dial_value(run.expand(caller_id['number']))}")
    if "name" in caller_id:
        pairs.append(f"origination_caller_id_name={_dial_value(run.expand(caller_id['name']))}")
    if pairs:
        prefix = "{" + ",".join(pairs) + "}"
    leg = f"[leg_timeout={int(seconds(spec['timeout']))}]" if "timeout" in spec else ""
    dial = prefix + "|".join(leg + run.expand(t) for t in targets)
    done = yield Execute("bridge", dial)
    disposition = done.variable("originate_disposition") or ""
    run.vars["bridge_disposition"] = disposition
    run.vars["bridge_hangup_cause"] = done.variable("bridge_hangup_cause") or ""
    if disposition in ("SUCCESS", "call accepted") or done.variable("bridge_hangup_cause"):
        return "answered"
    if disposition == "USER_BUSY":
        return "busy"
    if disposition in _NO_ANSWER:
        return "no_answer"
    return "failed"
