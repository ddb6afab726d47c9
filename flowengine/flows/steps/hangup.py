"""hangup: end the call with a cause (FreeSWITCH ``hangup``); nothing follows it."""

from __future__ import annotations

from ...quoting import literal
from ..actions import Execute
from .kind import StepKind


def run(flow_run, step):
    yield Execute("hangup", literal(step.spec.get("hangup") or "NORMAL_CLEARING"))
    return "hangup"


KIND = StepKind("hangup", {"type": ["string", "null"], "pattern": "^[A-Z_]+$"}, run, order=70,
                written="`hangup: CAUSE`", does="hang up", outcomes_doc="—", ends_flow=True)
