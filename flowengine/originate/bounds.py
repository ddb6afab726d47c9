"""Numbers an operator gives the originate side (pacing, deadlines): finite and in range.

``float("nan")`` and ``float("inf")`` parse, and every comparison with NaN is false: a rate
of ``nan`` would lift the limit it sets, a rate of 0 divides by zero in the dispatching
greenlet (after the server answered ``202`` to every request), an ``at_once`` of 0 dials
nothing. Each is refused where it is given: :func:`number` as an argparse type (the option
named in the usage error), :func:`check` where a value is handed over in code (:class:`~.pacing.Pacing`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def check(name: str, value: float | int, *, least: float, integer: bool = False, above: bool = False) -> None:
    """ValueError naming ``name`` unless ``value`` is a finite number (an int when
    ``integer``) at least ``least`` (greater than it when ``above``)."""
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise ValueError(f"{name} is {kind}, not {value!r}")
    if not math.isfinite(value) or (value <= least if above else value < least):
        raise ValueError(f"{name} is {kind} {'above' if above else 'of at least'} {least:g}, not {value!r}")


def number(option: str, *, least: float, integer: bool = False, above: bool = False) -> Callable[[str], float | int]:
    """An argparse ``type=`` for ``option``: :func:`check`'s rule on the text given."""

    def parse(text: str) -> float | int:
        try:
            if not text.isascii():  # int() and float() take any script's digits
                raise ValueError(f"{text!r} is not a number written in ASCII")
            value: float | int = int(text) if integer else float(text)
            check(option, value, least=least, integer=integer, above=above)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc) if option in str(exc) else f"{option}: {exc}") from None
        return value

    return parse
