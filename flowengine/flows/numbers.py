"""Number patterns as operators write them: ``"1000"``, ``"1000-1099"``, ``"/^5\\d{3}$/"``.

A ``/regex/`` is compiled and run by :mod:`.patterns` (RE2, linear time): numbers come
from the caller, and the overlap check runs every pattern on other flows' numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import patterns

_RANGE = re.compile(r"^(\d+)-(\d+)$")


@dataclass(frozen=True)
class NumberPattern:
    text: str
    kind: str  # "exact", "range" or "regex"
    low: str = ""
    high: str = ""
    regex: patterns.Pattern | None = None

    @classmethod
    def parse(cls, text: str) -> NumberPattern:
        text = str(text).strip()
        if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
            return cls(text, "regex", regex=patterns.compile(text[1:-1]))  # PatternError is a ValueError
        match = _RANGE.match(text)
        if match:
            low, high = match.groups()
            if len(low) != len(high) or int(low) > int(high):
                raise ValueError(f"range {text!r} needs two numbers of the same length, low first")
            return cls(text, "range", low, high)
        if not text:
            raise ValueError("an empty number")
        return cls(text, "exact", text, text)

    def matches(self, number: str | None) -> bool:
        """Whether this pattern claims ``number``; none claims one longer than any pattern reads."""
        if number is None or len(number) > patterns.MAX_SUBJECT:
            return False
        if self.kind == "exact":
            return number == self.low
        if self.kind == "range":
            return len(number) == len(self.low) and number.isdigit() and self.low <= number <= self.high
        assert self.regex is not None  # parse gives every "regex" pattern its compiled regex
        return self.regex.search(number)

    def overlaps(self, other: NumberPattern) -> bool:
        """Whether both could claim one number (exact for exact/range; sampled for regexes)."""
        if self.kind != "regex" and other.kind != "regex":
            return len(self.low) == len(other.low) and self.low <= other.high and other.low <= self.high
        if self.kind == "regex" and other.kind == "regex":
            return self.text == other.text
        regex, plain = (self, other) if self.kind == "regex" else (other, self)
        return regex.matches(plain.low) or regex.matches(plain.high)


def parse_numbers(value: str | list[str] | None) -> list[NumberPattern]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [NumberPattern.parse(str(v)) for v in items]


def any_match(patterns: list[NumberPattern], number: str | None) -> bool:
    return any(p.matches(number) for p in patterns)
