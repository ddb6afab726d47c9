"""The tests a ``when`` step can make; every one reads state, none touches the call.

``matches:`` runs on values the caller controls, so it goes through :mod:`.patterns`
(RE2, linear time), never ``re``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from . import patterns
from .calendar import Calendar
from .numbers import any_match, parse_numbers


def as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def holds(
    cond: dict,
    *,
    lookup: Callable[[str], str | None],
    calendars: dict[str, Calendar],
    now: Callable[[], datetime],
    timezone: str | None = None,
) -> bool:
    """Whether ``cond`` holds; ``now`` is asked only by a condition on the time, so a flow
    test can tell a flow that depends on the clock from one that does not."""

    def sub(c: dict) -> bool:
        return holds(c, lookup=lookup, calendars=calendars, now=now, timezone=timezone)

    results: list[bool] = []
    if "var" in cond:
        value = lookup(cond["var"])
        tests = [k for k in ("equals", "in", "matches", "empty") if k in cond]
        if "equals" in cond:
            results.append(value is not None and value == as_text(cond["equals"]))
        if "in" in cond:
            results.append(value is not None and value in [as_text(v) for v in cond["in"]])
        if "matches" in cond:
            results.append(value is not None and patterns.search(cond["matches"], value))
        if "empty" in cond:
            results.append((not value) == bool(cond["empty"]))
        if not tests:
            results.append(bool(value))
    if "caller" in cond:
        results.append(any_match(parse_numbers(cond["caller"]), lookup("caller_id_number")))
    if "destination" in cond:
        results.append(any_match(parse_numbers(cond["destination"]), lookup("destination_number")))
    if "digits" in cond:
        results.append(any_match(parse_numbers(cond["digits"]), lookup("digits")))
    if "open" in cond:
        results.append(calendars[cond["open"]].is_open(now()))
    if "closed" in cond:
        results.append(not calendars[cond["closed"]].is_open(now()))
    if "time" in cond:
        results.append(Calendar.inline(cond["time"], cond.get("timezone") or timezone).is_open(now()))
    if "all" in cond:
        results.append(all(sub(c) for c in cond["all"]))
    if "any" in cond:
        results.append(any(sub(c) for c in cond["any"]))
    if "not" in cond:
        results.append(not sub(cond["not"]))
    return all(results)
