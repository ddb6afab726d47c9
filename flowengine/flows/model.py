"""A loaded flow: its steps, each of one kind, with the outcomes it can end in.

Where each step can go is :mod:`.routes`' (it reads the kinds; the model does not)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, overload

from ..errors import FlowengineError
from .source import Source

#: the longest duration a flow may give (a timeout, a sleep): a day, in seconds
MAX_DURATION = 24 * 3600.0

# matched against the stripped text: one \s* only, so a long run of blanks costs linear time
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class BadDuration(FlowengineError, ValueError):
    """A duration is not written as one, or is not from 0 to :data:`MAX_DURATION`."""


@overload
def seconds(value: Any, default: float) -> float: ...
@overload
def seconds(value: Any, default: None = None) -> float | None: ...
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


def duration(value: Any) -> float:
    """:func:`seconds` of a duration the flow must give: the schema refuses a missing or
    null one, so a None here is a flow that skipped the check."""
    amount = seconds(value)
    if amount is None:
        raise BadDuration("a duration is missing (write 5, \"5s\", \"500ms\", \"2m\" or \"1h\")")
    return amount


def is_pattern(key: str) -> bool:
    return len(key) >= 2 and key.startswith("/") and key.endswith("/")


#: a flow's ``direction:``: who starts the calls it runs. ``inbound`` (the default): callers,
#: by dialling one of its ``numbers:`` (or by ``call:`` from another flow); ``outbound``:
#: originate, with the flow's ``params:`` as the call's variables; ``both``: either.
INBOUND, OUTBOUND, BOTH = "inbound", "outbound", "both"
DIRECTIONS = (INBOUND, OUTBOUND, BOTH)


@dataclass
class Step:
    """One step of a flow: its name, its kind's name, the step's mapping as written
    (``spec``), and where its ``next`` and ``on:`` go."""

    name: str
    kind: str
    spec: dict
    next: str | None = None
    on: dict[str, str] = field(default_factory=dict)

    @property
    def at(self) -> tuple:
        return ("steps", self.name)


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
    calendars: dict[str, Any] = field(default_factory=dict)  # name -> Calendar
    timezone: str | None = None  # of inline time: conditions that give none (--check requires one)
    tts: dict[str, str] = field(default_factory=dict)  # speak's engine and voice unless a step gives them
    languages: dict[str, dict] = field(default_factory=dict)  # a language step chooses one; the first: default
    direction: str = INBOUND  # who starts its calls (:data:`DIRECTIONS`)

    @property
    def path(self):
        return self.source.path

    @property
    def originated(self) -> bool:
        """May ``run.py originate`` / ``POST /calls`` start this flow (``direction:``
        ``outbound`` or ``both``)? An engine routes a token naming any other flow by the
        call's number instead, so a flow written for callers never runs with variables an
        originate request chose."""
        return self.direction in (OUTBOUND, BOTH)


def _mapping(value: Any) -> dict:
    return dict(value or {})


#: the flow file's own keys a :class:`Flow` keeps as written (each a field of the same
#: name), and how its value is read; ``name``, ``start``, ``steps`` and ``calendars`` are
#: built by the checks. A new key: its schema in ``data/flow_base.schema.json``, its field
#: on :class:`Flow`, a line here, and its meaning's checks in :mod:`.validate_keys`.
TOP_LEVEL: dict[str, Callable[[Any], Any]] = {
    "numbers": list,
    "default": bool,
    "on_error": lambda value: value,
    "max_transitions": int,
    "vars": _mapping,
    "params": _mapping,
    "timezone": lambda value: value,
    "tts": _mapping,
    "languages": _mapping,
    "direction": str,
}


def flow_of(data: dict, source: Source, steps: dict[str, Step], calendars: dict) -> Flow:
    """The :class:`Flow` of a flow file that passed every check; a key it leaves out takes
    the field's default."""
    given = {key: read(data[key]) for key, read in TOP_LEVEL.items() if data.get(key) is not None}
    return Flow(name=data["name"], source=source, start=data["start"], steps=steps, calendars=calendars, **given)
