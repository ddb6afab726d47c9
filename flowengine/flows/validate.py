"""Everything checked before a flow may take a call: the JSON Schema, then the meaning.

Each problem is one line, ``file:line:col: step 'menu': <rule>``, and all of them are
reported at once. Errors refuse the flow; warnings are printed and the flow loads.

What a call could never survive is refused here, not met by a call: a pattern RE2 cannot
run (see :mod:`.patterns`), NaN or infinity anywhere, a duration outside 0..24h. The
schema bounds every count; NaN passes any schema bound, so it is looked for here.

Here: the schema, each step (its targets, outcomes, durations, its kind's own check) and
``when`` conditions. The flow's own keys are checked in :mod:`.validate_keys`, the steps
as a graph in :mod:`.validate_graph`.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import jsonschema

from ..errors import FlowError
from . import patterns
from .calendar import Calendar, inline_hours, past_midnight, zone
from .model import Flow, Step, flow_of, seconds
from .numbers import parse_numbers
from .routes import targets
from .schema_messages import context, schema_message
from .source import Source
from .steps import KEYS, KINDS, Problems
from .validate_graph import check_graph
from .validate_keys import check_own_keys
from .variables import check_names

#: shipped inside the package (schema/flow.schema.json, for editors, links to it)
SCHEMA_PATH = Path(__file__).resolve().parent / "flow.schema.json"


class FlowProblems(FlowError):
    """A flow (or a set of flows) has errors; ``problems`` lists every one, and ``warnings``
    what the same check found that does not refuse a flow, so one run shows both."""

    def __init__(self, problems: list[str], warnings: list[str] | None = None) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        self.warnings = list(warnings or [])


@lru_cache(maxsize=1)
def validator() -> jsonschema.Draft202012Validator:
    with SCHEMA_PATH.open(encoding="utf-8") as fh:
        schema = json.load(fh)
    return jsonschema.Draft202012Validator(schema)


def check(source: Source) -> tuple[Flow | None, list[str], list[str]]:
    """(flow or None, errors, warnings) for one file."""
    errors: list[str] = []
    data = source.data
    if not isinstance(data, dict):
        return None, [f"{source.where()}: a flow file must be a mapping (name:, start:, steps:)"], []
    for error in sorted(validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        path, message = schema_message(error)
        errors.append(f"{source.where(path)}: {context(path)}{message}")
    if errors:
        return None, errors, []
    return _meaning(source, data)


def _meaning(source: Source, data: dict) -> tuple[Flow | None, list[str], list[str]]:
    errors: list[str] = []
    warnings: list[str] = []

    def err(path: tuple, message: str) -> None:
        errors.append(f"{source.where(path)}: {context(path)}{message}")

    def warn(path: tuple, message: str) -> None:
        warnings.append(f"{source.where(path)}: warning: {context(path)}{message}")

    durations = {("steps", name) + path for name, spec in data["steps"].items() for path, _ in _durations(spec)}
    for path, value in _non_finite(data, ()):
        if path not in durations:  # a duration's own check says what it may be
            err(path, f"{_field(path)}{value} is not a finite number (quote it if it is text)")

    steps: dict[str, Step] = {}
    for name, spec in data["steps"].items():
        at = ("steps", name)
        actions = [key for key in KEYS if key in spec]
        kinds = list(dict.fromkeys(KEYS[key] for key in actions))
        if not actions:
            err(at, f"has no action (one of {', '.join(KEYS)})")
            continue
        if len(kinds) > 1:
            err(at, f"has more than one action: {', '.join(actions)}; give each its own step")
            continue
        steps[name] = Step(name, kinds[0], spec, spec.get("next"), dict(spec.get("on", {})))

    calendars, default_zone = check_own_keys(data, err, warn)

    for step in steps.values():
        _check_step(step, data, calendars, default_zone, err, warn)

    check_graph(data, steps, err, warn)
    conditions = [
        (("steps", name) + path, cond) for name, step in steps.items() for path, cond in _places(step.spec, CONDITION)
    ]
    check_names(data, steps, warn, conditions)
    if errors:
        return None, errors, warnings
    flow = flow_of(data, source, steps, calendars)
    return flow, errors, warnings


def _check_step(step: Step, data: dict, calendars: dict, timezone: str | None, err, warn) -> None:
    at = step.at
    all_steps = data["steps"]
    spec = step.spec
    for path, target in targets(step):
        if target not in all_steps:
            shown = ".".join(
                f'"{p}"'
                if isinstance(p, str) and p not in ("on", "next", "menu", "choices", "when", "goto", "else", "exceeded")
                else str(p)
                for p in path
            )
            hint = difflib.get_close_matches(target, list(all_steps), n=1)
            err(
                at + path,
                f"{shown} goes to {target!r}, which is not a step" + (f" (did you mean '{hint[0]}'?)" if hint else ""),
            )
    kind = KINDS[step.kind]
    if kind.ends_flow and (step.next or step.on):
        err(at + (("next",) if step.next else ("on",)), f"a {step.kind} step ends the flow: next/on are never taken")
    for outcome in step.on:
        if outcome in kind.outcomes or (kind.accepts is not None and kind.accepts(outcome)):
            continue
        listed = ", ".join(sorted(kind.outcomes)) or "none (use next)"
        err(at + ("on", outcome), f"a {step.kind} step has no outcome {outcome!r}; its outcomes are {listed}")
    if kind.check is not None:
        kind.check(step, Problems(step, err, warn, calendars, data, timezone))
    for path, value in _durations(spec):
        try:
            amount = seconds(value)
        except ValueError as exc:
            err(at + path, f"{_field(at + path)}{exc}")
            continue
        if amount is not None and amount > BARE_SECONDS and _bare(value) and not str(path[-1]).endswith("_seconds"):
            warn(at + path, f"{_field(at + path)}{_units(value, amount)}")


#: the largest bare number (no unit) a duration takes without a warning: ten minutes. No
#: wait on a caller (a prompt, a digit, a ring, a sleep) is that long in practice, while
#: FreeSWITCH's own arguments give such times in milliseconds (mod_dptools.c,
#: play_and_get_digits: ``... 5000 ...``), so a bare number above it is most likely
#: milliseconds copied from a dialplan: ``timeout: 5000`` is 83 minutes. A key whose name
#: gives the unit (``max_seconds``) is not warned about, nor a value with its unit (``"5000s"``).
BARE_SECONDS = 600.0
_BARE = re.compile(r"\s*\d+(\.\d+)?\s*")


def _bare(value: object) -> bool:
    """A duration written without a unit: ``5000``, ``"5000"``."""
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) or (isinstance(value, str) and _BARE.fullmatch(value) is not None)


def _units(value: object, amount: float) -> str:
    """What a bare number over :data:`BARE_SECONDS` is, and how to write each meaning."""
    text = str(value).strip()
    longer = f"{amount / 3600:.1f} hours" if amount >= 7200 else f"{amount / 60:.0f} minutes"
    meant = f"{amount / 1000:g}"
    return (
        f"{text} is {text} seconds ({longer}): a number without a unit counts seconds. For {meant} "
        f'seconds write "{meant}s" (or "{text}ms"); if {text} seconds is meant, write "{text}s" to say so'
    )


def check_condition(cond: dict, path: tuple, problems: Problems) -> None:
    """A ``when`` condition's own checks, for the step kinds that hold conditions."""
    inside = len(problems.step.at)
    _check_condition(
        cond,
        problems.step.at + path,
        problems.calendars,
        problems.timezone,
        problems.report,
        lambda at, message: problems.warning(at[inside:], message),
    )


def _check_condition(cond: dict, at: tuple, calendars: dict, timezone: str | None, err, warn) -> None:
    for key in ("open", "closed"):
        if key in cond and cond[key] not in calendars:
            close = difflib.get_close_matches(str(cond[key]), list(calendars), n=1)
            err(
                at + (key,),
                f"calendar {cond[key]!r} is not defined in calendars:"
                + (f" (did you mean {close[0]!r}?)" if close else ""),
            )
    if "time" in cond:
        _check_time(cond, at, timezone, err, warn)
    elif "timezone" in cond:
        err(at + ("timezone",), "timezone goes with time:")
    for key in ("caller", "destination", "digits"):
        if key in cond:
            try:
                parse_numbers(cond[key])
            except ValueError as exc:
                err(at + (key,), str(exc))
    if "matches" in cond:
        _regex(cond["matches"], at + ("matches",), err)
    if any(k in cond for k in ("equals", "in", "matches", "empty")) and "var" not in cond:
        err(at, "equals / in / matches / empty test a variable: add var:")
    for key in ("all", "any"):
        for i, sub in enumerate(cond.get(key, [])):
            _check_condition(sub, at + (key, i), calendars, timezone, err, warn)
    if "not" in cond:
        _check_condition(cond["not"], at + ("not",), calendars, timezone, err, warn)


def _check_time(cond: dict, at: tuple, timezone: str | None, err, warn) -> None:
    """An inline ``time:``; a bad timezone is said once, at the timezone."""
    if "timezone" in cond:
        try:
            zone(cond["timezone"])
        except ValueError as exc:
            err(at + ("timezone",), str(exc))
            return
    try:
        Calendar.inline(cond["time"], cond.get("timezone") or timezone)
    except ValueError as exc:
        err(at + ("time",), str(exc))
        return
    for _, message in past_midnight(inline_hours(cond["time"]), inline=True):
        warn(at + ("time",), message)


def _regex(text: str, at: tuple, err) -> None:
    try:
        patterns.compile(text)
    except patterns.PatternError as exc:
        err(at, str(exc))


def _field(path: tuple) -> str:
    """``menu.timeout: `` for a path into a step, as the schema messages name fields."""
    inner = path[2:] if path[:1] == ("steps",) else path
    return ".".join(str(p) for p in inner) + ": " if inner else ""


def _non_finite(node: object, at: tuple) -> list[tuple[tuple, float]]:
    """(path, value) of every NaN and infinity in a flow (YAML's .nan, .inf, 1e999)."""
    if isinstance(node, float):
        return [] if math.isfinite(node) else [(at, node)]
    if isinstance(node, dict):
        return [hit for k, v in node.items() for hit in _non_finite(v, at + (k,))]
    if isinstance(node, list):
        return [hit for i, v in enumerate(node) for hit in _non_finite(v, at + (i,))]
    return []


DURATION = "#/$defs/duration"
CONDITION = "#/$defs/condition"


def _durations(spec: dict) -> list[tuple[tuple, object]]:
    """(path in the step, value) of every duration a step holds."""
    return _places(spec, DURATION)


def _places(spec: dict, ref: str) -> list[tuple[tuple, Any]]:
    """(path in the step, value) of every place a step's value meets ``ref`` in the schema
    (a duration, a condition; not what is nested in a match): a kind's new one needs no
    code here."""
    schema = cast("Mapping[str, Any]", validator().schema)  # flow.schema.json is an object
    step = schema["$defs"]["step"]["properties"]
    found: list[tuple[tuple, object]] = []
    for key, value in spec.items():
        if key in step:
            _walk(value, step[key], (key,), schema["$defs"], found, ref)
    return list({path: (path, value) for path, value in found}.values())  # once each, in order


def _walk(value: object, node: dict, path: tuple, defs: dict, found: list, wanted: str) -> None:
    ref = node.get("$ref", "")
    if ref == wanted:
        found.append((path, value))
        return
    if ref.startswith("#/$defs/"):
        node = defs[ref[len("#/$defs/") :]]
    for option in node.get("oneOf", []) + node.get("anyOf", []):
        _walk(value, option, path, defs, found, wanted)
    if isinstance(value, dict):
        properties = node.get("properties", {})
        for key, item in value.items():
            if key in properties:
                _walk(item, properties[key], path + (key,), defs, found, wanted)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            _walk(item, node["items"], path + (i,), defs, found, wanted)
