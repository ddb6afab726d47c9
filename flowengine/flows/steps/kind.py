"""What a step kind declares about itself: everything the rest of the engine needs.

One module per kind under this package holds a ``KIND`` (as Kazoo's ``cf_*.erl`` modules
hold one callflow action each): its name, the JSON Schema of its value, its outcomes, how it
runs, where it can go, what ``--check`` must add to the schema, and its README row. The
registry (:mod:`flowengine.flows.steps`) finds the modules by name; validation, the schema
file, the graph, coverage and the interpreter read it, so a kind is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:
    from ..model import Step


@dataclass(frozen=True)
class Transition:
    """One way out of a step: where it is written, where it goes, and its names."""

    path: tuple           # in the step: ("next",), ("on", "busy"), ("menu", "choices", "1") …
    target: str
    edge: str             # what a run records taking ("next", the outcome, "when[0]", "else" …)
    label: str            # what the graph writes on the arrow


class Problems:
    """Where a kind's own check reports: ``error``/``warning`` with a path inside the step."""

    def __init__(self, step: "Step", err: Callable[[tuple, str], None], warn: Callable[[tuple, str], None],
                 calendars: dict, flow: dict | None = None, timezone: str | None = None) -> None:
        self.step = step
        self.calendars = calendars
        self.flow = flow or {}    # the flow file's top level (tts:, languages: …), as written
        self.timezone = timezone  # the flow's default for calendars and time: conditions
        self.report, self._warn = err, warn   # report: a path from the file's top

    def error(self, path: tuple, message: str) -> None:
        self.report(self.step.at + path, message)

    def warning(self, path: tuple, message: str) -> None:
        self._warn(self.step.at + path, message)

    def pattern(self, text: str, path: tuple) -> None:
        """A flow regular expression: one RE2 can run (:mod:`flowengine.flows.patterns`)."""
        from .. import patterns
        try:
            patterns.compile(text)
        except patterns.PatternError as exc:
            self.error(path, str(exc))


def _none(step: "Step") -> list:
    return []


@dataclass(frozen=True)
class Application:
    """One FreeSWITCH application a kind runs, as flow tests and ``run.py simulate`` play it.

    ``answer(fs, arg, key)`` gives the scripted FreeSWITCH's events for it, shaped like the
    recordings (:class:`flowengine.testing.scripted.ScriptedFreeSwitch` is ``fs``; None: a
    plain EXECUTE / EXECUTE_COMPLETE pair); ``seconds(fs, words)`` the simulated time it
    takes; ``hears`` how the simulator describes it to the person calling."""

    answer: Callable[[Any, str, str], bytes] | None = None
    seconds: Callable[[Any, list[str]], float] | None = None
    hears: str | None = None


@dataclass(frozen=True)
class StepKind:
    """A step kind. ``run(flow_run, step)`` is a generator: it yields commands, receives
    their completions, and returns the outcome (None: the interpreter runs it itself)."""

    name: str
    schema: dict                                  # the value under ``name``
    run: Callable[..., Any] | None
    written: str                                  # README: how it is written
    does: str                                     # README: what it does
    outcomes: tuple[str, ...] = ()                # the fixed ones, for ``on:``
    outcomes_doc: str = "— (`next`)"              # README: the outcomes column
    order: int = 100                              # its place in the schema and the README
    also: tuple[str, ...] = ()                    # other keys that make a step of this kind
    step_keys: dict = field(default_factory=dict)  # step-level keys it adds (bridge: timeout)
    ends_flow: bool = False                       # nothing follows it (next/on are errors)
    instant: bool = False                         # takes no call time: a cycle of these spins
    transitions: Callable[["Step"], list[Transition]] = _none   # beyond next and on
    accepts: Callable[[str], bool] | None = None  # on: keys beyond ``outcomes`` (digits, patterns)
    unhandled: Callable[["Step"], list[str]] | None = None      # outcomes that would end the call
    bounded: Callable[["Step", tuple], bool] | None = None      # a transition with a max:
    check: Callable[["Step", Problems], None] | None = None
    applications: dict[str, Application] = field(default_factory=dict)  # by FreeSWITCH name
    sets: tuple[str, ...] | Callable[["Step"], Iterable[str]] = ()   # the ${names} it gives later steps

    def variables(self, step: "Step") -> tuple[str, ...]:
        """The flow or channel variables a step of this kind sets, for ``--check``'s
        unknown-``${name}`` warning."""
        return tuple(self.sets(step)) if callable(self.sets) else self.sets

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.name,) + self.also
