"""What a flow test case may say, checked when its file loads: a mistyped word is an error
of the case with its file:line:col, never a case that passes because it tests nothing.
(What the call must then have done is :mod:`.expectations`; what it left unused,
:mod:`.cases`.)"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..flows.model import seconds
from ..flows.source import Source
from ..runtime.result import CallResult
from .host import HOST_KEYS

ACTION_KEYS = {"press", "hangup", "at", "time"}
LIST_KEYS = {"steps", "executed"}  # what includes: / never: hold
RESULTS = tuple(result.value for result in CallResult)
_DIGITS = frozenset("0123456789*#ABCD")


def check_case(source: Source, at: tuple, spec: dict) -> None:
    """What a case says must mean something: a mistyped word is an error of the case,
    never a case that passes because it tests nothing."""
    name = spec["name"]

    def refuse(path: tuple, message: str) -> None:
        raise source.error(at + path, f"case {name!r}: {message}")

    shapes = {
        "call": dict,
        "expect": dict,
        "bridge": dict,
        "queue": dict,
        "missing": list,
        "host": dict,
        "caller": list,
        "replay": str,
        "fail": dict,
        "http": dict,
    }
    for key, kind in shapes.items():
        if key in spec and not isinstance(spec[key], kind):
            refuse((key,), f"{key}: is {'a mapping' if kind is dict else 'a list' if kind is list else 'text'}")
    for key, low, high in (("record_ms", 0, 14_400_000), ("prompt_seconds", 0, 3600)):
        if key in spec:
            value = spec[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                refuse((key,), f"{key}: is a number from {low} to {high}, not {value!r}")
    variables = (spec.get("call") or {}).get("variables")
    if variables is not None and not isinstance(variables, dict):
        refuse(("call", "variables"), "variables: is a mapping of channel variable names to values")
    for key, kind in (
        ("steps", list),
        ("executed", list),
        ("outcomes", dict),
        ("vars", dict),
        ("channel", dict),
        ("requests", list),
    ):
        if key in (spec.get("expect") or {}) and not isinstance(spec["expect"][key], kind):
            refuse(("expect", key), f"expect: {key}: is {'a list' if kind is list else 'a mapping'}")

    actions = spec.get("caller") or []
    if not isinstance(actions, list):
        refuse(("caller",), "caller: is a list of {press: digits} or {hangup: true}, each with at: or time:")
    for j, action in enumerate(actions):
        where = ("caller", j)
        if not isinstance(action, dict) or ("press" in action) == ("hangup" in action):
            refuse(
                where,
                "each caller action is {press: \"1\"} or {hangup: true} (or a cause), "
                "optionally with at: STEP or time: DURATION",
            )
        extra = sorted(set(action) - ACTION_KEYS)
        if extra:
            refuse(where + (extra[0],), f"unknown caller key {extra[0]!r} (known: {', '.join(sorted(ACTION_KEYS))})")
        if "press" in action:
            digits = str(action["press"])
            if not digits or set(digits) - _DIGITS:
                refuse(where + ("press",), f"press {digits!r}: a caller presses 0-9, *, #, A-D")
        if "time" in action:
            try:
                seconds(action["time"])
            except ValueError as exc:
                refuse(where + ("time",), f"time: {exc}")
    for path in (("call", "time"), ("time",)):  # a scripted call's moment, a replayed one's
        moment = (spec.get("call") or {}).get("time") if path[0] == "call" else spec.get("time")
        if moment is None:
            continue
        try:
            clock(moment)
        except ValueError:
            refuse(path, f"time {moment!r} is not an ISO 8601 moment (e.g. \"2026-11-23T10:30:00+01:00\")")
    host = spec.get("host")
    if host is not None:
        if not isinstance(host, dict):
            refuse(
                ("host",),
                f"host: is what the FreeSWITCH host lacks or has: {{{', '.join(sorted(HOST_KEYS))}}}, each a list",
            )
        for key, value in host.items():
            if key not in HOST_KEYS:
                close = difflib.get_close_matches(str(key), sorted(HOST_KEYS), n=1)
                refuse(
                    ("host", key),
                    f"unknown host key {key!r}"
                    + (f" (did you mean {close[0]!r}?)" if close else "")
                    + f"; known: {', '.join(sorted(HOST_KEYS))}",
                )
            if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
                refuse(("host", key), f"host: {key}: is a list of names")
    fail = spec.get("fail")
    if fail is not None and (not isinstance(fail, dict) or set(fail) != {"at"} or not isinstance(fail["at"], str)):
        refuse(("fail",), "fail: is {at: STEP}: FreeSWITCH refuses that step's command, the flow's on_error runs")
    expect = spec.get("expect") or {}
    result = expect.get("result")
    if result is not None and result not in RESULTS:
        close = difflib.get_close_matches(str(result), RESULTS, n=1)
        refuse(
            ("expect", "result"),
            f"result {result!r} is not how a call ends; results are "
            f"{', '.join(RESULTS)}" + (f" (did you mean {close[0]!r}?)" if close else ""),
        )
    for key in ("includes", "never"):
        value = expect.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            refuse(("expect", key), f"{key}: is {{steps: [...], executed: [...]}}")
        for what, items in value.items():
            if what not in LIST_KEYS:
                close = difflib.get_close_matches(str(what), sorted(LIST_KEYS), n=1)
                refuse(
                    ("expect", key, what),
                    f"expect: {key}: unknown key {what!r}"
                    + (f" (did you mean {close[0]!r}?)" if close else "")
                    + f"; known: {', '.join(sorted(LIST_KEYS))}",
                )
            if not isinstance(items, list):
                refuse(("expect", key, what), f"expect: {key}: {what}: is a list")
    if "replay" not in spec and not spec.get("expect"):  # a replay expects the recorded commands
        refuse(
            (),
            "a case needs expect: (what must happen: steps, outcomes, result, …); one without "
            "would pass whatever the flow did",
        )


def clock(text: Any) -> Callable[[], datetime] | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return lambda: moment
