"""A loaded flow as the flow map draws it: its steps (file:line, preflight problems), its
arrows and the ways out that end calls, each with an id, and the counts under those ids.

A count is what :class:`.flow_map_counts.Tally` holds, put where the run went: a step's
end with outcome ``label`` took the arrow :func:`~flowengine.flows.routes.way_out` took
(the transition of that name, else ``next``), or ended the call: the caller hung up
mid-step (``gone``), the step failed (``error``: the flow's ``on_error`` step, if any, is
entered next), an outcome with nowhere to go (a menu's ``exhausted`` with no ``on:`` for it
and no ``next``), the flow's own hang-up, a transfer, a called flow's return. A step's
entries are its ends plus the calls in it now. Ids are made of the flow's own names, so the
same flow files give the same ids on every worker and the counts of several add up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..flows.model import Flow, Step
from ..flows.routes import reachable, transitions
from ..flows.steps import KINDS
from ..runtime.result import StepEnd
from .flow_map_counts import Key

#: the fixed words a step's end is counted under (:class:`.metrics.Metrics`) that end the
#: step's part of the call, and how the map names them; ``bad`` ones stand out
FIXED_EXITS: dict[str, tuple[str, bool]] = {
    StepEnd.GONE: ("hung up", True),
    StepEnd.ERROR: ("error", True),
    StepEnd.HANGUP: ("hangs up", False),
    StepEnd.TRANSFERRED: ("transferred", False),
    StepEnd.RETURN: ("returned", False),
}
#: outcomes that are a caller's failure even where the flow sends them on: their arrows stand out
BAD_OUTCOMES = frozenset({"exhausted", "error", "failed", "timeout", "no_answer", "busy", "no_agent", "exceeded"})
#: preflight problems shown on one step (the rest counted)
MAX_STEP_PROBLEMS = 5

Counts = dict[str, list[int]]  # id -> [since start, last minutes]


def where(flow: Flow, step: str, directory: Path | None) -> str:
    """``file:line`` of the step's name in its flow file, the file relative to the flows'
    directory when it is inside it."""
    line = flow.source.marks.get(("steps", step), (1, 1))[0]
    return f"{shown_path(flow.source.path, directory)}:{line}"


def shown_path(path: Path, directory: Path | None) -> str:
    if directory is not None:
        try:
            return Path(path).resolve().relative_to(directory.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def _named_edges(step: Step) -> dict[str, str]:
    """The step's ways out by outcome name (not ``next``) -> arrow id."""
    named: dict[str, str] = {}
    for arrow_id, transition in _arrows(step):
        if transition.path[0] != "next":
            named.setdefault(transition.edge, arrow_id)
    return named


def _arrows(step: Step) -> list[tuple[str, Any]]:
    """(arrow id, transition) of each way out; a name written twice gets ``#2``, ``#3``."""
    seen: dict[str, int] = {}
    out = []
    for transition in transitions(step):
        base = f"a:{step.name}:{transition.edge}"
        seen[base] = seen.get(base, 0) + 1
        out.append((base if seen[base] == 1 else f"{base}#{seen[base]}", transition))
    return out


def exit_kinds(step: Step) -> list[str]:
    """The ways out of ``step`` that end its part of the call, known from the flow alone:
    the fixed ones, and each outcome of its kind with no transition and no ``next``."""
    kind = KINDS[step.kind]
    kinds: list[str] = [StepEnd.GONE, StepEnd.ERROR]
    if kind.ends_call:
        kinds.append(StepEnd.HANGUP)
    if kind.returns:
        kinds.append(StepEnd.RETURN)
    if kind.ends_flow and not kind.ends_call and not kind.returns:
        kinds.append(StepEnd.TRANSFERRED)
    if not step.next and not kind.ends_flow:
        named = {t.edge for t in transitions(step)}
        tries = set(kind.attempt_failures)  # a failed try the step goes on from (a menu's)
        kinds += [f"ends:{outcome}" for outcome in kind.outcomes if outcome not in named and outcome not in tries]
    return kinds


def exit_name(kind: str) -> tuple[str, bool]:
    """How the map names a way out, and whether it stands out."""
    if kind.startswith("ends:"):
        return f"{kind[5:]}, call ends", True
    return FIXED_EXITS.get(kind, (kind, True))


def counted_at(step: Step, label: str, named: Mapping[str, str]) -> str:
    """The id (arrow or exit) a step's end counted as ``label`` is shown at."""
    outcomes = KINDS[step.kind].outcomes
    if label in named:
        return named[label]
    if label in FIXED_EXITS and label not in outcomes:
        return f"x:{step.name}:{label}"
    if step.next:
        return f"a:{step.name}:next"
    return f"x:{step.name}:ends:{label}"


def flow_counts(
    flow: Flow, total: Mapping[Key, int], recent: Mapping[Key, int], now: Mapping[tuple[str, str], int]
) -> Counts:
    """Every id's [since start, last minutes], for one process; ids with no count absent."""
    counts: Counts = {}

    def add(key: str, whole: int, lately: int) -> None:
        slot = counts.setdefault(key, [0, 0])
        slot[0] += whole
        slot[1] += lately

    names = {(flow.name, name): step for name, step in flow.steps.items()}
    named = {name: _named_edges(step) for name, step in flow.steps.items()}
    for key, whole in total.items():
        what, flow_name, step_name, label = key
        step = names.get((flow_name, step_name))
        if step is None:
            continue
        lately = recent.get(key, 0)
        if what == "end":
            add(f"s:{step_name}", whole, lately)
            add(counted_at(step, label, named[step_name]), whole, lately)
        elif what == "try":
            add(f"t:{step_name}:{label}", whole, lately)
    for (flow_name, step_name), calls in now.items():
        if (flow_name, step_name) in names and calls:
            add(f"s:{step_name}", calls, calls)
            add(f"n:{step_name}", calls, calls)
    return counts


def flow_shape(flow: Flow, directory: Path | None, problems: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """The flow's steps and arrows as the page draws them, with ``shape``: a digest that
    changes when what is drawn does (the page lays the graph out again then)."""
    live = reachable(flow.steps, flow.start, flow.on_error)
    steps, arrows = [], []
    for name, step in flow.steps.items():
        kind = KINDS[step.kind]
        exits = []
        for exit_kind in exit_kinds(step):
            text, bad = exit_name(exit_kind)
            exits.append({"id": f"x:{name}:{exit_kind}", "text": text, "bad": bad})
        found = (problems or {}).get(name, [])
        steps.append(
            {
                "name": name,
                "kind": _written(step),
                "where": where(flow, name, directory),
                "start": name == flow.start,
                "on_error": name == flow.on_error,
                "reachable": name in live,
                "ends_call": kind.ends_call,
                "tries": list(kind.attempt_failures),
                "exits": exits,
                "problems": found[:MAX_STEP_PROBLEMS]
                + ([f"… and {len(found) - MAX_STEP_PROBLEMS} more"] if len(found) > MAX_STEP_PROBLEMS else []),
            }
        )
        for arrow_id, transition in _arrows(step):
            arrows.append(
                {
                    "id": arrow_id,
                    "from": name,
                    "to": transition.target,
                    "label": transition.label,
                    "bad": transition.edge in BAD_OUTCOMES or transition.target == flow.on_error,
                }
            )
    drawn = {"steps": steps, "arrows": arrows, "on_error": flow.on_error, "start": flow.start}
    written = json.dumps(drawn, sort_keys=True).encode()
    return {**drawn, "shape": hashlib.sha256(written).hexdigest()[:16]}


def _written(step: Step) -> str:
    """The key the step is written with (``vars``, not its kind ``set``), as ``run.py graph`` labels it."""
    return next((key for key in KINDS[step.kind].keys if key in step.spec), step.kind)


def step_problems(flow: str, reports: Iterable[Any]) -> dict[str, list[str]]:
    """Preflight's problems of ``flow``'s steps (:class:`~flowengine.preflight.HostReport`
    list), by step: ``host: message``, each once."""
    found: dict[str, dict[str, None]] = {}
    for report in reports:
        for problem in report.problems:
            if problem.flow == flow:
                found.setdefault(problem.step, {})[f"{report.host}: {problem.message}"] = None
    return {step: list(messages) for step, messages in found.items()}


def add_counts(into: Counts, more: Mapping[str, Any]) -> None:
    """Another process's counts added (what it sent is checked: two numbers an id)."""
    for key, value in more.items():
        if (
            isinstance(key, str)
            and isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
        ):
            slot = into.setdefault(key, [0, 0])
            slot[0] += value[0]
            slot[1] += value[1]
