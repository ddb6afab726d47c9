"""Where a step can go: its ways out, and the steps a call can reach from a flow's start.

A step's ways out are its ``on:`` outcomes, what its kind declares beyond them (a menu's
choices, a ``when``'s branches: :attr:`~flowengine.flows.steps.StepKind.transitions`), then
``next``. Validation, the graph, coverage, the metrics' labels and the run all read them
here, so the model (:mod:`.model`) knows nothing of the kinds.
"""

from __future__ import annotations

from typing import Any

from .effects import Goto
from .model import Step
from .steps import KINDS, Transition


def transitions(step: Step) -> list[Transition]:
    """Every way out of ``step``: its ``on:`` outcomes, what its kind declares, then
    ``next``. Worked out once per step: the run asks at the end of every step."""
    found = step.__dict__.get("_transitions")
    if found is None:
        found = [Transition(("on", k), v, k, str(k)) for k, v in step.on.items()]
        found += KINDS[step.kind].transitions(step)
        if step.next:
            found.append(Transition(("next",), step.next, "next", "next"))
        step.__dict__["_transitions"] = found
    return found


def targets(step: Step) -> list[tuple[tuple, str]]:
    """Every (path in the step, step name) ``step`` can go to."""
    return [(t.path, t.target) for t in transitions(step)]


def reachable(steps: dict[str, Step], start: str, on_error: str | None = None) -> set[str]:
    """The steps a call can reach from ``start`` (and ``on_error``), following every way
    out: what ``--check`` warns about and the graph dashes."""
    seen: set[str] = set()
    todo = [start] + ([on_error] if on_error else [])
    while todo:
        name = todo.pop()
        if name in seen or name not in steps:
            continue
        seen.add(name)
        todo += [target for _, target in targets(steps[name])]
    return seen


def way_out(step: Step, result: Any) -> tuple[str, str | None, str, str]:
    """Where ``step`` goes having ended with ``result`` (an outcome, or a branch the step
    took itself, :class:`~.effects.Goto`): (outcome, target step, edge, label). The edge is
    the declared transition taken: the one named after the outcome (an ``on:`` key, a menu
    choice), else ``next`` (no target and ``unhandled:…`` without one). The label is the
    outcome as metrics count it: a name the flow or the kind has, else ``other``."""
    if isinstance(result, Goto):
        # a branch's outcome is its name (when[0], else, exceeded): what the docs' tables,
        # coverage and a case's outcomes: say, whatever step it leads to
        return result.edge, result.step, result.edge, result.edge
    outcome = str(result)
    for transition in transitions(step):
        if transition.edge == outcome:
            return outcome, transition.target, outcome, outcome
    edge = "next" if step.next else f"unhandled:{outcome}"
    return outcome, step.next, edge, outcome if outcome in KINDS[step.kind].outcomes else "other"
