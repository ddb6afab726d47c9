"""return: end a called flow with an outcome for the calling step."""

from __future__ import annotations

from .kind import StepKind


def run(flow_run, step):
    return flow_run.expand(step.spec["return"])
    yield


KIND = StepKind(
    "return",
    {"type": "string", "minLength": 1, "description": "End a called flow with this outcome."},
    run,
    order=160,
    ends_flow=True,
    returns=True,
    outcomes_doc="—",
    written="`return: outcome`",
    does="end a called flow with this outcome",
)
