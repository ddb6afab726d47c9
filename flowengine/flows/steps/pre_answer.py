"""pre_answer: early media without answering (FreeSWITCH ``pre_answer``)."""

from __future__ import annotations

from ..effects import Execute
from .kind import StepKind


def run(flow_run, step):
    yield Execute("pre_answer")
    return "done"


KIND = StepKind(
    "pre_answer",
    {"type": ["object", "null"], "maxProperties": 0},
    run,
    order=20,
    written="`pre_answer: {}`",
    does="early media: the caller hears prompts before an answer",
    outcomes=("done",),
)
