"""The checks of a flow's own keys (``start``, ``on_error``, ``timezone``, ``calendars``,
``numbers``, ``params``, ``direction``): what each means, their form being the schema's.
Apart from the steps' checks (:mod:`.validate`) because each looks at the flow's top level
alone; what they find (the calendars, the default timezone) the steps' checks then use.
"""

from __future__ import annotations

from collections.abc import Callable

from .calendar import Calendar, past_midnight, zone
from .model import OUTBOUND
from .numbers import parse_numbers
from .params import fits
from .variables import ENGINE_PREFIXES, freeswitch_names

#: reports a problem at a path in the flow file
Report = Callable[[tuple, str], None]


def check_own_keys(data: dict, err: Report, warn: Report) -> tuple[dict[str, Calendar | None], str | None]:
    """The flow's own keys' meaning (their form is the schema's; a new key's checks go
    here, its field in :data:`.model.TOP_LEVEL`): (calendars by name, None for a broken
    one; the timezone conditions without one take)."""
    for key in ("start", "on_error"):
        if key in data and data[key] not in data["steps"]:
            err((key,), f"{key} is {data[key]!r}, which is not a step")

    calendars: dict[str, Calendar | None] = {}  # None: broken, and said so once
    default_zone = data.get("timezone")
    if default_zone is not None:
        try:
            zone(default_zone)
        except ValueError as exc:
            err(("timezone",), str(exc))
            default_zone = "UTC"  # reported: the conditions below are not blamed for it too
    for cname, cspec in (data.get("calendars") or {}).items():
        try:
            calendars[cname] = Calendar.parse(cspec, default_zone)
        except ValueError as exc:
            calendars[cname] = None
            err(("calendars", cname), str(exc))
            continue
        for days, message in past_midnight(cspec.get("hours") or {}):
            warn(("calendars", cname, "hours", days), message)

    for pattern in data.get("numbers", []):
        try:
            parse_numbers(pattern)
        except ValueError as exc:
            err(("numbers",), str(exc))
    _check_params(data, err)
    _check_direction(data, warn)
    return calendars, default_zone


def _check_params(data: dict, err: Report) -> None:
    """Each parameter's default against its type (:func:`.params.fits`): what a ``call``
    step or an originate request giving that value is held to. A parameter may not be named
    as a channel variable or caller profile field FreeSWITCH gives the call (``uuid``,
    ``caller_id_number``, ``language``: :data:`.variables.WELL_KNOWN` and the names
    :func:`.variables.freeswitch_names` lists), nor as one the engine sets (``flowengine_…``,
    :data:`.variables.ENGINE_PREFIXES`): a flow variable is read before the channel's
    (runtime/lookup.py), so a value an originate request gives would stand in for the call's
    own ``${uuid}`` in every ``uuid_*`` command, or its caller's number."""
    known, prefixes = freeswitch_names()
    for name, param in (data.get("params") or {}).items():
        if isinstance(name, str) and (name.lower() in known or name.lower().startswith(prefixes)):
            whose = (
                "a channel variable the engine sets"
                if name.lower().startswith(ENGINE_PREFIXES)
                else "a value FreeSWITCH gives the call"
            )
            err(
                ("params", name),
                f"parameter {name!r} has the name of {whose} (${{{name}}}): "
                f"a value given for it would stand in for the channel's own; name it otherwise (e.g. 'given_{name}')",
            )
        kind = param.get("type", "string")
        if "default" in param and not fits(param["default"], kind):
            err(("params", name, "default"), f"parameter {name!r} is {kind}, not {param['default']!r}")


def _check_direction(data: dict, warn: Report) -> None:
    """An outbound flow a caller can reach too: by its ``numbers:`` or as the default flow,
    a dialled call runs it with no parameters (model.DIRECTIONS: ``both`` says that is meant)."""
    if data.get("direction") != OUTBOUND:
        return
    ways_in = (("numbers:", data.get("numbers")), ("default: true", data.get("default")))
    dialled = " and ".join(what for what, given in ways_in if given)
    if dialled:
        warn(
            ("direction",),
            f"direction: outbound, yet {dialled} lets callers dial in, and such a call runs with no parameters "
            f"(their defaults at most); write direction: both if that is meant, or remove {dialled}",
        )
