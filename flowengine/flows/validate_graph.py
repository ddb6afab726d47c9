"""The checks of a flow's steps as a graph: a step never reached, an outcome no step
takes, a loop of steps that never wait on the caller (it would spin until the run's
transition budget). Apart from :mod:`.validate` because they look at the steps together,
once each step alone is known good.
"""

from __future__ import annotations

from collections.abc import Callable

from .model import Step
from .routes import reachable, targets
from .steps import KINDS

#: reports a problem at a path in the flow file
Report = Callable[[tuple, str], None]


def check_graph(data: dict, steps: dict[str, Step], err: Report, warn: Report) -> None:
    """Steps never reached from ``start``, outcomes a step leaves unhandled (the call is
    hung up there), and loops of steps that never wait on the caller."""
    live = reachable(steps, data["start"], data.get("on_error"))
    for name in steps:
        if name not in live:
            warn(("steps", name), "is never reached from start")
    for step in steps.values():
        kind = KINDS[step.kind]
        if kind.ends_flow or step.next:
            continue
        missing = kind.unhandled(step) if kind.unhandled is not None else [o for o in kind.outcomes if o not in step.on]
        if missing:
            warn(step.at, f"does not handle {', '.join(missing)}: the call is hung up there")
    # a cycle of steps that never wait on the caller spins until the transition budget
    instant = {n for n, s in steps.items() if KINDS[s.kind].instant}
    edges = {n: [t for path, t in targets(steps[n]) if t in instant and not _bounded(steps[n], path)] for n in instant}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                loop = trail[trail.index(nxt) :] + [nxt] if nxt in trail else [node, nxt]
                err(
                    ("steps", nxt),
                    "loops without waiting for the caller: "
                    + " -> ".join(loop)
                    + " (add max: to a goto, or a step that plays or listens)",
                )
            elif state.get(nxt) is None:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(instant):
        if state.get(node) is None:
            visit(node, [node])


def _bounded(step: Step, path: tuple) -> bool:
    bounded = KINDS[step.kind].bounded
    return bounded is not None and bounded(step, path)
