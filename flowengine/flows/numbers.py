"""Number patterns as operators write them: ``"1000"``, ``"1000-1099"``, ``"/^5\\d{3}$/"``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"^(\d+)-(\d+)$")


@dataclass(frozen=True)
class NumberPattern:
    text: str
    kind: str                   # "exact", "range" or "regex"
    low: str = ""
    high: str = ""
    regex: re.Pattern | None = None

    @classmethod
    def parse(cls, text: str) -> "NumberPattern":
        text = str(text).strip()
        if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
            try:
                return cls(text, "regex", regex=re.compile(text[1:-1]))
            except re.error as exc:
                raise ValueError(f"{text!r} is not a valid regular expression: {exc}") from None
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
        if number is None:
            return False
        if self.kind == "exact":
            return number == self.low
        if self.kind == "range":
            return len(number) == len(self.low) and number.isdigit() and self.low <= number <= self.high
        return self.regex.search(number) is not None  # type: ignore[union-attr]

    def overlaps(self, other: "NumberPattern") -> bool:
        """Whether both could claim one number (exact for exact/range; sampled for regexes)."""
        if self.kind != "regex" and other.kind != "regex":
            return (len(self.low) == len(other.low) and self.low <= other.high and other.low <= self.high)
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
