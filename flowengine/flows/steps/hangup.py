"""hangup: end the call with a cause (FreeSWITCH ``hangup``); nothing follows it."""

from __future__ import annotations

from ...quoting import literal
from ..effects import Execute
from .kind import Application, StepKind


def run(flow_run, step):
    yield Execute("hangup", literal(step.spec.get("hangup") or "NORMAL_CLEARING"))
    return "hangup"



def scripted(fs, arg: str, key: str) -> bytes:
    """CHANNEL_HANGUP comes before the completion of ``hangup`` (answer_playback_hangup)."""
    execute = fs.event("CHANNEL_EXECUTE", ("Application", "hangup"), ("Application-Data", arg),
                       ("Application-UUID", key))
    return execute + fs.hang_up(arg or "NORMAL_CLEARING", ("hangup", arg, key))


KIND = StepKind("hangup", {"type": ["string", "null"], "pattern": "^[A-Z_]+$"}, run, order=70,
                written="`hangup: CAUSE`", does="hang up", outcomes_doc="—", ends_flow=True,
                applications={"hangup": Application(scripted, hears="hang up")})
