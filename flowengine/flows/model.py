"""A loaded flow: its steps, each of one kind, with the outcomes it can end in."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import FlowengineError
from .source import Source

#: every action a step can hold; set / export / vars may be combined in one step
ACTIONS = ("answer", "pre_answer", "playback", "play_and_get_digits", "menu", "bridge", "hangup",
           "set", "export", "vars", "when", "goto", "sleep", "say", "record", "transfer", "call",
           "return")
SETTERS = ("set", "export", "vars")

#: fixed outcomes per kind (digits, choices and sub-flow results come on top)
OUTCOMES: dict[str, tuple[str, ...]] = {
    "answer": ("done",), "pre_answer": ("done",), "set": ("done",), "sleep": ("done",),
    "say": ("done",), "playback": ("played", "not_found"),
    "play_and_get_digits": ("digits", "timeout", "invalid"),
    "menu": ("exhausted", "no_input", "invalid"),
    "bridge": ("answered", "busy", "no_answer", "failed"),
    "record": ("recorded", "empty"),
    "when": (), "goto": ("exceeded",), "hangup": (), "transfer": (), "return": (), "call": (),
}
#: steps after which the flow is over, whatever follows
TERMINAL = ("hangup", "transfer", "return")
#: steps that take no time on the call: a cycle of only these can spin forever
INSTANT = ("set", "when", "goto", "call")

#: the longest duration a flow may give (a timeout, a sleep): a day, in seconds
MAX_DURATION = 24 * 3600.0

# matched against the stripped text: one \s* only, so a long run of blanks costs linear time
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)?")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class BadDuration(FlowengineError, ValueError):
    """A duration is not written as one, or is not from 0 to :data:`MAX_DURATION`."""


def seconds(value: Any, default: float | None = None) -> float | None:
    """``5`` / ``"5s"`` / ``"500ms"`` / ``"2m"`` as seconds, from 0 to :data:`MAX_DURATION`.

    The range is checked here as well as in the schema: NaN passes every JSON Schema
    bound (each comparison with it is false), and a call must never wait on one.
    """
    if value is None:
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            amount = float(value)
        except OverflowError:  # an int too large for a float
            amount = math.inf
        shown = f"{amount:g}"
    else:
        shown = repr(value) if len(str(value)) <= 40 else repr(str(value)[:40]) + "…"
        match = _DURATION.fullmatch(str(value).strip())
        if not match:
            raise BadDuration(f"not a duration: {shown} (write 5, \"5s\", \"500ms\", \"2m\" or \"1h\")")
        amount = float(match.group(1)) * _UNIT[match.group(2)]
    if not 0 <= amount <= MAX_DURATION:  # false for NaN too
        raise BadDuration(f"{shown} is not a duration from 0 to 24h ({MAX_DURATION:g} seconds)")
    return amount


def is_pattern(key: str) -> bool:
    return len(key) >= 2 and key.startswith("/") and key.endswith("/")


@dataclass
class Step:
    name: str
    kind: str
    spec: dict
    next: str | None = None
    on: dict[str, str] = field(default_factory=dict)

    @property
    def at(self) -> tuple:
        return ("steps", self.name)

    def targets(self) -> list[tuple[tuple, str]]:
        """Every (path in the file, step name) this step can go to."""
        out: list[tuple[tuple, str]] = []
        if self.next:
            out.append((("next",), self.next))
        out += [(("on", k), v) for k, v in self.on.items()]
        if self.kind == "menu":
            out += [(("menu", "choices", k), v) for k, v in self.spec["menu"].get("choices", {}).items()]
        if self.kind == "when":
            for i, branch in enumerate(self.spec["when"]):
                out.append((("when", i, "goto"), branch["goto"]))
                if "exceeded" in branch:
                    out.append((("when", i, "exceeded"), branch["exceeded"]))
            if "else" in self.spec:
                out.append((("else",), self.spec["else"]))
        if self.kind == "goto":
            out.append((("goto",), self.spec["goto"]))
            if "exceeded" in self.spec:
                out.append((("exceeded",), self.spec["exceeded"]))
        return out


@dataclass
class Flow:
    name: str
    source: Source
    start: str
    steps: dict[str, Step]
    numbers: list[str] = field(default_factory=list)
    default: bool = False
    on_error: str | None = None
    max_transitions: int = 500
    vars: dict[str, Any] = field(default_factory=dict)
    params: dict[str, dict] = field(default_factory=dict)
    calendars: dict[str, Any] = field(default_factory=dict)   # name -> Calendar

    @property
    def path(self):
        return self.source.path
