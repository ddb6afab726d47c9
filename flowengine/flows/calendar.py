"""Opening hours in a named timezone, closed dates and date ranges.

Defined once per flow (``calendars:``) or inline in a condition
(``time: "Mon-Fri 08:00-18:00"``) and evaluated against an aware clock, so the answer is
the same on a server in UTC and one in Berlin.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


def _day_range(text: str) -> list[int]:
    parts = text.strip().lower().split("-")
    try:
        first = DAYS.index(parts[0][:3])
        last = DAYS.index(parts[-1][:3])
    except ValueError:
        raise ValueError(f"{text!r} is not a day or day range (mon, mon-fri, …)") from None
    if len(parts) > 2:
        raise ValueError(f"{text!r} is not a day or day range (mon, mon-fri, …)")
    days = [first]
    while days[-1] != last:
        days.append((days[-1] + 1) % 7)
    return days


def _spans(text: str) -> list[tuple[time, time | None]]:
    """``"08:00-12:00, 13:00-18:00"``; ``closed``; an end of 24:00 is midnight."""
    text = text.strip().lower()
    if text in ("closed", ""):
        return []
    spans = []
    for part in text.split(","):
        match = _SPAN.match(part.strip())
        if not match:
            raise ValueError(f"{part.strip()!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"{part.strip()!r} is not a time of day")
        spans.append((time(h1, m1), None if h2 == 24 else time(h2, m2)))
    return spans


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


@dataclass
class Calendar:
    timezone: ZoneInfo
    hours: dict[int, list[tuple[time, time | None]]] | None = None  # None: every day, all day
    closed: list[tuple[date, date]] = field(default_factory=list)

    @classmethod
    def parse(cls, spec: dict, timezone: str | None = None) -> Calendar:
        """``timezone`` is the flow's, for a calendar that names none; without either the
        calendar is refused: a UTC default would open a Madrid office an hour late in
        winter and two in summer."""
        name = spec.get("timezone") or timezone
        if not name:
            raise ValueError(
                "needs a timezone (e.g. timezone: Europe/Madrid here, or timezone: at the top of "
                "the flow for all its calendars and time: conditions)"
            )
        tz = zone(name)
        hours: dict[int, list[tuple[time, time | None]]] | None = None
        if spec.get("hours") is not None:
            hours = {d: [] for d in range(7)}
            for days, spans in spec["hours"].items():
                for d in _day_range(days):
                    hours[d] = _spans(spans)
        closed = []
        for item in spec.get("closed", []):
            first, _, last = str(item).partition("..")
            start = _date(first)
            end = _date(last) if last else start
            if end < start:
                raise ValueError(f"{item!r}: the range ends before it starts")
            closed.append((start, end))
        return cls(tz, hours, closed)

    @classmethod
    def inline(cls, text: str, timezone: str | None) -> Calendar:
        """``"Mon-Fri 08:00-18:00; Sat 09:00-12:00"``."""
        hours: dict[str, str] = {}
        for group in text.split(";"):
            days, _, spans = group.strip().partition(" ")
            if not spans:
                raise ValueError(f"{group.strip()!r} is not 'DAYS HH:MM-HH:MM'")
            hours[days] = spans
        return cls.parse({"hours": hours}, timezone)

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.timezone)
        today = local.date()
        if any(start <= today <= end for start, end in self.closed):
            return False
        if self.hours is None:
            return True
        clock = local.time().replace(tzinfo=None)
        for start, end in self.hours[local.weekday()]:
            if end is None or start < end:
                if start <= clock and (end is None or clock < end):
                    return True
            elif clock >= start:  # 22:00-06:00: open from start to midnight …
                return True
        yesterday = (local - timedelta(days=1)).weekday()
        for start, end in self.hours[yesterday]:  # … and after midnight until end
            if end is not None and end <= start and clock < end:
                return True
        return False


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(str(name), sorted(available_timezones()), n=1)
        raise ValueError(
            f"{name!r} is not a known timezone "
            + (f"(did you mean {close[0]!r}?)" if close else "(e.g. Europe/Berlin)")
        ) from None
