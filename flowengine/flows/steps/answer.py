"""answer: answer the call (FreeSWITCH ``answer``)."""

from __future__ import annotations

from ..effects import Execute
from .kind import Application, StepKind


def run(flow_run, step):
    yield Execute("answer")
    return "done"


def scripted(fs, arg: str, key: str) -> bytes:
    """CHANNEL_ANSWER between the application's events, as recorded."""
    return fs.events("answer", arg, key, between=fs.event("CHANNEL_ANSWER"))


KIND = StepKind(
    "answer",
    {"type": ["object", "null"], "maxProperties": 0},
    run,
    order=10,
    written="`answer: {}`",
    does="answer the call",
    outcomes=("done",),
    applications={"answer": Application(scripted)},
)
