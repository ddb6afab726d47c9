"""Which steps and transitions of the flows no test case reaches."""

from __future__ import annotations

from collections.abc import Iterable

from ..flows import FlowSet
from ..flows.model import Step
from ..flows.routes import transitions
from ..runtime import FlowRun


def declared(step: Step) -> list[tuple[tuple, str]]:
    """(path in the file, edge name) of every transition a step declares."""
    return [(t.path, t.edge) for t in transitions(step)]


def missing(flows: FlowSet, runs: Iterable[FlowRun]) -> list[str]:
    entered: set[tuple[str, str]] = set()
    taken: set[tuple[str, str, str]] = set()
    for run in runs:
        entered.update(run.entered)
        taken.update(run.taken)
    report = []
    for flow in flows.flows.values():
        for step in flow.steps.values():
            if (flow.name, step.name) not in entered:
                report.append(f"{flow.source.where(step.at)}: step '{step.name}' is never reached")
                continue
            for path, edge in declared(step):
                if (flow.name, step.name, edge) not in taken:
                    shown = {"next": "next", "else": "else"}.get(edge, f"outcome {edge!r}")
                    report.append(f"{flow.source.where(step.at + path)}: step '{step.name}': {shown} is never taken")
    return report
