"""A run's frames: the flow a call started in, then each flow a ``call`` step runs.

Each frame holds its flow's variables, the step running there and what that step has
used up; a called flow's frame goes when it returns (or runs out of steps) and its outcome
is the calling step's. The failover checkpoint writes and reads frames
(:mod:`.checkpoint`); the run (:mod:`.interpreter`) drives them.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from ..esl import Event
from ..flows.conditions import as_text
from ..flows.effects import Effect, HttpResult
from ..flows.model import Flow
from ..quoting.text import literal

StepGen = Generator[Effect, Event | HttpResult | None, Any]


@dataclass
class Frame:
    flow: Flow
    vars: dict[str, Any]
    step: str | None = None
    gen: StepGen | None = None
    counts: dict = field(default_factory=dict)
    entered: float = 0.0
    #: what the running step has used up of its tries (a menu's attempts), kept in the
    #: failover checkpoint so that a resumed step goes on where it was
    progress: dict = field(default_factory=dict)


class CallStack:
    """The frames of one run, the root flow's first."""

    def __init__(self, flow: Flow) -> None:
        self.frames = [Frame(flow, initial_vars(flow, {}))]

    @property
    def top(self) -> Frame:
        return self.frames[-1]

    @property
    def called(self) -> bool:
        """A called flow is running (not the one the call started in)."""
        return len(self.frames) > 1

    def enter(self, name: str, now: float) -> Frame:
        """The running flow goes to its step ``name``, which starts with nothing used up."""
        frame = self.frames[-1]
        frame.step = name
        frame.entered = now
        if frame.progress:
            frame.progress = {}
        return frame

    def shown(self, name: str) -> str:
        """A step of the running flow as a trace names it: ``flow/step`` in a called flow."""
        return name if len(self.frames) == 1 else f"{self.frames[-1].flow.name}/{name}"

    def call(self, callee: Flow, given: dict[str, Any]) -> Frame:
        """A frame for ``callee``, run with the parameters ``given``."""
        frame = Frame(callee, initial_vars(callee, given))
        self.frames.append(frame)
        return frame

    def back(self) -> Frame:
        """The called flow ends: the calling flow's frame, its ``call`` step still current."""
        self.frames.pop()
        return self.frames[-1]

    def unwind(self) -> Frame:
        """Only the root flow's frame is left (its ``on_error`` runs there)."""
        del self.frames[1:]
        return self.frames[0]

    def close(self) -> None:
        """Every frame's step stops where it is (its generator is closed)."""
        for frame in self.frames:
            if frame.gen is not None:
                frame.gen.close()


def initial_vars(flow: Flow, given: dict[str, Any]) -> dict[str, Any]:
    """The flow's own values (the author's: trusted) and the parameters it was called with."""
    values = {k: literal(as_text(v)) for k, v in flow.vars.items()}
    for name, param in flow.params.items():
        if name in given:
            values[name] = given[name]
        elif "default" in param:
            values[name] = literal(as_text(param["default"]))
    return values
