"""answer: answer the call (FreeSWITCH ``answer``)."""

from __future__ import annotations

from ..actions import Execute
from .kind import StepKind


def run(flow_run, step):
    yield Execute("answer")
    return "done"


KIND = StepKind("answer", {"type": ["object", "null"], "maxProperties": 0}, run, order=10,
                written="`answer: {}`", does="answer the call", outcomes=("done",))
