"""Opening hours in a named timezone, closed dates and date ranges.

Defined once per flow (``calendars:``) or inline in a condition
(``time: "Mon-Fri 08:00-18:00"``) and evaluated against an aware clock, so the answer is
the same on a server in UTC and one in Berlin.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
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


def _week(hours: Mapping[str, str]) -> dict[int, list[tuple[time, time | None]]]:
    """Weekday (0 = Monday) -> spans; a day no key names is closed, and a later key that
    names a day again replaces what an earlier one said of it (``mon-fri``, then ``fri``)."""
    week: dict[int, list[tuple[time, time | None]]] = {d: [] for d in range(7)}
    for days, spans in hours.items():
        for d in _day_range(days):
            week[d] = _spans(spans)
    return week


def inline_hours(text: str) -> dict[str, str]:
    """``"Mon-Fri 08:00-18:00; Sat 09:00-12:00"`` as a calendar's ``hours:``."""
    hours: dict[str, str] = {}
    for group in text.split(";"):
        days, _, spans = group.strip().partition(" ")
        if not spans:
            raise ValueError(f"{group.strip()!r} is not 'DAYS HH:MM-HH:MM'")
        hours[days] = spans
    return hours


def _overnight(start: time, end: time | None) -> bool:
    """A span that ends at or before it starts: :meth:`Calendar.is_open` reads it as open
    from its start until its end on the next day."""
    return end is not None and end <= start


def _clock(at: time | None) -> str:
    return "24:00" if at is None else at.strftime("%H:%M")


def _same_day(week: dict[int, list[tuple[time, time | None]]]) -> dict[int, list[tuple[time, time | None]]]:
    """The same opening hours with no span past midnight: each overnight span split into
    its evening (to 24:00) and the next day's morning (from 00:00)."""
    out: dict[int, list[tuple[time, time | None]]] = {d: [] for d in range(7)}
    for d, spans in week.items():
        for start, end in spans:
            if _overnight(start, end):
                out[d].append((start, None))
                if end != time(0):
                    out[(d + 1) % 7].append((time(0), end))
            else:
                out[d].append((start, end))
    for d, spans in out.items():
        merged: list[tuple[time, time | None]] = []
        for start, end in sorted(spans, key=lambda span: (span[0], span[1] or time.max)):
            last = merged[-1] if merged else None
            if last is not None and (last[1] is None or start <= last[1]):  # overlaps or touches
                merged[-1] = (last[0], None if last[1] is None or end is None else max(last[1], end))
            else:
                merged.append((start, end))
        out[d] = merged
    return out


def _written(week: dict[int, list[tuple[time, time | None]]], inline: bool) -> str:
    """Hours as a flow writes them, runs of days with the same spans as one day range:
    ``{mon: "19:00-24:00", tue-fri: "00:00-09:00, 19:00-24:00"}``, or inline
    ``Mon 19:00-24:00; Tue-Fri 00:00-09:00, 19:00-24:00``."""
    groups: list[tuple[int, int, str]] = []
    for d in range(7):
        spans = ", ".join(f"{_clock(a)}-{_clock(b)}" for a, b in week[d])
        if groups and groups[-1][2] == spans and groups[-1][1] == d - 1:
            groups[-1] = (groups[-1][0], d, spans)
        else:
            groups.append((d, d, spans))
    parts = []
    for first, last, spans in groups:
        if not spans:
            continue  # a day no key names is closed
        days = DAYS[first] if first == last else f"{DAYS[first]}-{DAYS[last]}"
        parts.append(f"{days.title()} {spans}" if inline else f'{days}: "{spans}"')
    return "; ".join(parts) if inline else "{" + ", ".join(parts) + "}"


def past_midnight(hours: Mapping[str, str], inline: bool = False) -> list[tuple[str, str]]:
    """(day key, warning) for each span of ``hours`` (a calendar's ``hours:``, or an
    inline ``time:``'s groups when ``inline``) that ends at or before it starts.

    ``mon-fri: "19:00-09:00"`` is open overnight, from 19:00 until 09:00 the next day, and
    closed at 10:30: right for a night line, a mistake for an office open 09:00 to 19:00.
    The warning says both ways to write it so it reads as meant, the overnight one day by
    day with no span past midnight (the same hours: :func:`_same_day`). ``hours`` must
    already parse (:meth:`Calendar.parse`)."""
    week = _week(hours)
    found = []
    for days, text in hours.items():
        for part in text.split(","):
            spans = _spans(part)  # one span, or none: "closed"
            if not spans:
                continue
            start, end = spans[0]
            if end is None or end == time(0) or not _overnight(start, end):  # "-00:00": until midnight
                continue
            span, opens, closes = part.strip(), _clock(start), _clock(end)
            if end < start:
                read = f"open from {opens} until {closes} the next day, not from {closes} to {opens}"
                other = f"For {closes} to {opens} write '{closes}-{opens}'"
            else:
                read = f"open 24 hours, from {opens} until {closes} the next day"
                other = "For all day write '00:00-24:00'"
            rewrite = _written(_same_day(week), inline)
            shown = f'time: "{rewrite}"' if inline else f"hours: {rewrite}"
            found.append(
                (
                    days,
                    f"{days}: '{span}' spans midnight: it is {read}. {other}; to keep these hours, write "
                    f"them day by day, none past midnight: {shown}",
                )
            )
    return found


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
        hours = _week(spec["hours"]) if spec.get("hours") is not None else None
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
        return cls.parse({"hours": inline_hours(text)}, timezone)

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
