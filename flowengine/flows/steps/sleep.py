"""sleep: a pause (FreeSWITCH ``sleep``, milliseconds)."""

from __future__ import annotations

from ...quoting import literal
from ..effects import Execute
from ..model import duration
from .kind import Application, StepKind


def run(flow_run, step):
    value = step.spec["sleep"]
    ms = int(duration(str(flow_run.expand(value)) if isinstance(value, str) else value) * 1000)
    yield Execute("sleep", literal(str(ms)))
    return "done"


KIND = StepKind(
    "sleep",
    {"$ref": "#/$defs/duration"},
    run,
    order=110,
    outcomes=("done",),
    written="`sleep: 2s`",
    does="pause",
    applications={"sleep": Application(seconds=lambda fs, words: int(words[0]) / 1000)},
)
