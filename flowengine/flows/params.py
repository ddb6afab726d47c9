"""A flow's ``params:`` against the values a call of it brings: one check, whoever starts it.

A ``call`` step gives a flow its parameters from the flow file (``with:``, checked when the
flow set loads, :mod:`.flowset`); ``run.py originate`` and ``POST /calls`` give an outbound
flow its parameters from the request (flowengine/originate/params.py). Both are judged here
by the same rules, so a value one of them accepts the other never refuses: no name the flow
does not declare, every ``required`` one given, each value of its declared type. A
``${template}`` in a flow file is only known at run time and fits any type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

_DIGITS = frozenset("0123456789")


def _digits(text: str) -> bool:
    return bool(text) and all(c in _DIGITS for c in text)


def _number(text: str) -> bool:
    whole, dot, fraction = text.removeprefix("-").partition(".")
    return _digits(whole) and (not dot or _digits(fraction))


#: a parameter's ``type:`` -> whether a value is written as one (``string``: anything).
#: ASCII digits only (Python's ``\d`` and ``str.isdigit`` take any script's: ``"١٢"`` would
#: pass as a number no dialplan or gateway reads as one); read with string methods in one
#: pass, since the values come from requests (``POST /calls``)
TYPES: dict[str, Callable[[str], bool]] = {
    "digits": lambda text: bool(text) and all(c in "0123456789*#+" for c in text),
    "number": _number,
    "boolean": lambda text: text in ("true", "false"),
}
#: the most characters of a value a message shows
SHOWN = 40


class ParamProblem(NamedTuple):
    """One thing wrong with the values given: ``name`` is the given value it is about (None
    for a required parameter not given: the call as a whole is wrong)."""

    name: str | None
    message: str


def fits(value: object, kind: str) -> bool:
    """Whether ``value`` fits a parameter of type ``kind`` (YAML's true/false as written)."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if "${" in text or kind == "string":
        return True
    judge = TYPES.get(kind)
    return judge is None or judge(text)


def _shown(value: object) -> str:
    if isinstance(value, str) and len(value) > SHOWN:
        return repr(value[:SHOWN]) + "…"
    return repr(value)


def param_problems(
    flow: str, params: Mapping[str, Mapping[str, Any]], given: Mapping[str, object]
) -> list[ParamProblem]:
    """What is wrong with ``given`` for the flow named ``flow`` that declares ``params``
    ([] when nothing): a name it does not declare first, then, in the order declared, a
    required parameter missing or a value not of its type. A flow that declares no
    ``params:`` takes none."""
    problems = [ParamProblem(name, f"flow {flow!r} has no parameter {name!r}") for name in given if name not in params]
    for name, param in params.items():
        if name not in given:
            if param.get("required"):
                problems.append(ParamProblem(None, f"flow {flow!r} needs parameter {name!r}"))
            continue
        kind = str(param.get("type", "string"))
        if not fits(given[name], kind):
            problems.append(
                ParamProblem(name, f"parameter {name!r} of flow {flow!r} is {kind}, not {_shown(given[name])}")
            )
    return problems
